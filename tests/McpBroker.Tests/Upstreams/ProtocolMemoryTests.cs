using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>What the broker remembers of each upstream's protocol, and what of a client's _meta reaches an upstream.</summary>
public sealed class ProtocolMemoryTests
{
    private static UpstreamModel Model(string yaml)
    {
        var result = ConfigLoader.Load($$"""
            schema_version: 1
            runtime: { root: "/tmp/mb-protocol-memory" }
            profiles: { default: {} }
            upstreams:
              {{yaml}}
            """, "/etc/broker.yaml", _ => null);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Model!.Upstreams.Single();
    }

    [Fact]
    public void Remember_IsReadBackByANewMemory_PerUrlForRemotes_AndForgetRemovesIt()
    {
        var dir = Directory.CreateTempSubdirectory("mb-protocols-").FullName;
        var remote = Model("a: { transport: http, url: \"http://127.0.0.1:9/tenant-7f3a/mcp\" }");
        var sameUrl = Model("b: { transport: http, url: \"http://127.0.0.1:9/tenant-7f3a/mcp\", prefix: other }");
        var stdio = Model("c: { command: node, args: [server.js] }");

        var memory = new ProtocolMemory(dir, TimeProvider.System);
        memory.Remember(remote, "2024-11-05");
        memory.Remember(stdio, "2026-07-28");

        var restarted = new ProtocolMemory(dir, TimeProvider.System);
        Assert.Equal("2024-11-05", restarted.Recall(remote));
        Assert.Equal("2024-11-05", restarted.Recall(sameUrl));
        Assert.Equal("2026-07-28", restarted.Recall(stdio));
        Assert.All(Directory.GetFiles(dir), f => Assert.DoesNotContain("tenant-7f3a", Path.GetFileName(f) + File.ReadAllText(f)));

        restarted.Forget(remote);
        Assert.Null(restarted.Recall(sameUrl));
        Assert.Null(new ProtocolMemory(dir, TimeProvider.System).Recall(remote));
    }

    [Fact]
    public void Remember_WhereNothingCanBeWritten_IsKeptInMemory_AndForgetStillForgets()
    {
        // A file where the folder should be: nothing can be written below it.
        var blocked = Path.Combine(Directory.CreateTempSubdirectory("mb-protocols-").FullName, "file");
        File.WriteAllText(blocked, "");
        var stdio = Model("c: { command: node }");
        var memory = new ProtocolMemory(Path.Combine(blocked, "protocols"), TimeProvider.System);

        memory.Remember(stdio, "2025-03-26");
        memory.Remember(stdio, "2025-03-26");
        Assert.Equal("2025-03-26", memory.Recall(stdio));
        memory.Forget(stdio);
        Assert.Null(memory.Recall(stdio));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{\"version\": \"\"}")]
    [InlineData("[1, 2]")]
    public void Recall_OfAnUnreadableFile_IsNothing(string content)
    {
        var dir = Directory.CreateTempSubdirectory("mb-protocols-").FullName;
        var stdio = Model("c: { command: node }");
        var memory = new ProtocolMemory(dir, TimeProvider.System);
        memory.Remember(stdio, "2025-06-18");
        File.WriteAllText(Directory.GetFiles(dir).Single(), content);

        Assert.Null(new ProtocolMemory(dir, TimeProvider.System).Recall(stdio));
    }

    [Theory]
    [InlineData("2024-11-05", false)]
    [InlineData("2025-11-25", false)]
    [InlineData("2026-07-28", true)]
    [InlineData("2027-01-01", true)]
    public void IsStateless_FromThe20260728RevisionOn(string version, bool stateless) =>
        Assert.Equal(stateless, ProtocolMemory.IsStateless(version));

    [Fact]
    public void ForwardedMeta_DropsTheClientsProtocolEnvelope_KeepsTheRest()
    {
        var meta = new JsonObject
        {
            ["io.modelcontextprotocol/protocolVersion"] = "2026-07-28",
            ["io.modelcontextprotocol/clientInfo"] = new JsonObject { ["name"] = "c" },
            ["progressToken"] = 7,
            ["vendor/trace"] = "abc",
        };

        var forwarded = ForwardedMeta.Of(meta)!;

        Assert.Equal(["progressToken", "vendor/trace"], forwarded.Select(p => p.Key));
        Assert.Equal(4, meta.Count);
        Assert.Null(ForwardedMeta.Of(new JsonObject { ["io.modelcontextprotocol/protocolVersion"] = "2026-07-28" }));
        Assert.Null(ForwardedMeta.Of(null));
        var plain = new JsonObject { ["progressToken"] = 1 };
        Assert.Same(plain, ForwardedMeta.Of(plain));
    }

    [Fact]
    public void ForwardedMeta_Strip_DropsTheUpstreamsEnvelopeFromAResult()
    {
        var result = new ModelContextProtocol.Protocol.CallToolResult
        {
            Meta = new JsonObject { ["io.modelcontextprotocol/serverInfo"] = new JsonObject { ["name"] = "up" }, ["vendor/x"] = 1 },
            ResultType = "complete",
        };

        Assert.Same(result, ForwardedMeta.Strip(result));
        Assert.Equal(["vendor/x"], result.Meta!.Select(p => p.Key));
        Assert.Null(result.ResultType);
        Assert.Equal("input_required", ForwardedMeta.Strip(new ModelContextProtocol.Protocol.CallToolResult { ResultType = "input_required" }).ResultType);
        Assert.Equal("text", ForwardedMeta.Strip("text"));
    }

    [Fact]
    public void WireExtras_KeepWhatTheSdksToolTypeDrops_AndPutItBackOnCopies_WithoutOverwriting()
    {
        var raw = JsonNode.Parse("""
            {"name":"echo","description":"Echo","inputSchema":{"type":"object"},
             "execution":{"taskSupport":"forbidden"},
             "annotations":{"readOnlyHint":true,"category":"input"}}
            """)!.AsObject();
        var tool = WireExtras.Attach((ModelContextProtocol.Protocol.Tool)raw.Deserialize(ModelContextProtocol.McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(ModelContextProtocol.Protocol.Tool)))!, raw);

        Assert.False(WireExtras.Serialize(tool).ContainsKey("execution"));
        var written = WireExtras.Serialize(tool, withExtras: true);
        Assert.True(JsonNode.DeepEquals(raw, written), written.ToJsonString());

        var renamed = McpBroker.Catalog.UpstreamTools.Copy(tool, "up__echo", "Echo, renamed");
        var copy = WireExtras.Serialize(renamed, withExtras: true);
        Assert.Equal("up__echo", copy["name"]!.GetValue<string>());
        Assert.Equal("Echo, renamed", copy["description"]!.GetValue<string>());
        Assert.Equal("forbidden", copy["execution"]!["taskSupport"]!.GetValue<string>());
        Assert.Equal("input", copy["annotations"]!["category"]!.GetValue<string>());
        Assert.True(copy["annotations"]!["readOnlyHint"]!.GetValue<bool>());

        var plain = new ModelContextProtocol.Protocol.Tool { Name = "plain", InputSchema = System.Text.Json.JsonElement.Parse("""{"type":"object"}""") };
        Assert.False(WireExtras.Any([plain]));
        Assert.True(WireExtras.Any([plain, tool]));
    }

    [Fact]
    public void WireExtras_KeepFieldsInsideArrays_AsAPromptArgumentsDefault()
    {
        var raw = JsonNode.Parse("""
            {"name":"diagnose","arguments":[{"name":"pod","required":true},{"name":"namespace","default":"all"}]}
            """)!.AsObject();
        var prompt = WireExtras.Attach((ModelContextProtocol.Protocol.Prompt)raw.Deserialize(
            ModelContextProtocol.McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(ModelContextProtocol.Protocol.Prompt)))!, raw);

        Assert.False(WireExtras.Serialize(prompt)["arguments"]![1]!.AsObject().ContainsKey("default"));
        var written = WireExtras.Serialize(prompt, withExtras: true);
        Assert.True(JsonNode.DeepEquals(raw, written), written.ToJsonString());
    }
}
