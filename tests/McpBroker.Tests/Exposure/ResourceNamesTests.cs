using McpBroker.Config;
using McpBroker.Exposure;

namespace McpBroker.Tests.Exposure;

/// <summary>How resources and prompts are named per profile, and how a name leads back to its upstream.</summary>
public sealed class ResourceNamesTests
{
    private static ConfigLoadResult Load(string broker, string profiles) => ConfigLoader.Load($"""
        schema_version: 1
        runtime: {"{"} root: "/tmp/mb-protocol-unit" {"}"}
        broker: {broker}
        profiles: {profiles}
        upstreams:
          a: {"{"} command: npx {"}"}
          b: {"{"} command: npx, prefix: bee {"}"}
        """, "/etc/broker.yaml", _ => null);

    [Fact]
    public void ResourcesAndPrompts_AreNamedByPrefix_AndLeadBack_TransparentRenamesNothing()
    {
        var model = Load("{}", "{ raw: { compact_tools_enabled: false }, snake: { compact_tools_enabled: false, broker_tool_name_style: snake }, t: { transparent: true, upstreams: [b] } }").Model!;
        var (raw, snake, transparent) = (model.Profiles["raw"], model.Profiles["snake"], model.Profiles["t"]);
        var upstreams = model.Upstreams.ToList();
        var b = upstreams.Single(u => u.Name == "b");

        Assert.Equal("mcp-broker://bee/file:///x/{id}", ResourceNames.Expose(raw, b, "file:///x/{id}"));
        Assert.Equal((b, "file:///x/7"), ResourceNames.Resolve(raw, upstreams, "mcp-broker://bee/file:///x/7"));
        Assert.Null(ResourceNames.Resolve(raw, upstreams, "file:///x/7"));
        Assert.Null(ResourceNames.Resolve(raw, upstreams, "mcp-broker://nobody/file:///x/7"));
        Assert.Null(ResourceNames.Resolve(raw, upstreams, "mcp-broker://bee"));
        Assert.Equal("file:///x/7", ResourceNames.Expose(transparent, b, "file:///x/7"));
        Assert.Equal((b, "file:///x/7"), ResourceNames.Resolve(transparent, [b], "file:///x/7"));

        Assert.Equal("bee.greet", ResourceNames.ExposePrompt(raw, b, "greet"));
        Assert.Equal("bee__greet", ResourceNames.ExposePrompt(snake, b, "greet"));
        Assert.Equal((b, "greet.v2"), ResourceNames.ResolvePrompt(raw, upstreams, "bee.greet.v2"));
        Assert.Equal((b, "greet"), ResourceNames.ResolvePrompt(snake, upstreams, "bee__greet"));
        Assert.Null(ResourceNames.ResolvePrompt(raw, upstreams, "greet"));
        Assert.Equal("greet", ResourceNames.ExposePrompt(transparent, b, "greet"));
    }
}
