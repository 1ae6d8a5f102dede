using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>A name that matches nothing gets the defined name it is most likely a typo of; a config's errors say the real fault.</summary>
public sealed class DidYouMeanTests
{
    [Theory]
    [InlineData("defualt", "; did you mean 'default'?")]
    [InlineData("Raw", "; did you mean 'raw'?")]
    [InlineData("memroy", "; did you mean 'memory'?")]
    [InlineData("github", "")]
    [InlineData("x", "")]
    public void Hint_NamesTheClosestDefinedName_OnlyWhenItIsClose(string typed, string hint) =>
        Assert.Equal(hint, DidYouMean.Hint(typed, ["default", "raw", "memory", "everything"]));

    [Fact]
    public void Validate_ATypoInAReference_SuggestsTheDefinedName()
    {
        var result = ConfigLoader.Load("""
            schema_version: 1
            runtime: { root: /tmp/mb-dym }
            profiles:
              default: { upstreams: [memroy] }
            upstreams:
              memory: { command: npx, profiles: [defualt] }
            """, "/etc/broker.yaml", _ => null);

        Assert.Contains(result.Errors, e => e.Path == "profiles.default.upstreams[0]" && e.Message.StartsWith("no upstream named 'memroy'; did you mean 'memory'?", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Path == "upstreams.memory.profiles[0]" && e.Message.StartsWith("no profile named 'defualt'; did you mean 'default'?", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_AnUpstreamWithoutItsCommand_IsThatError_NotAnAllowanceMatchingNothing()
    {
        var result = ConfigLoader.Load("""
            schema_version: 1
            runtime: { root: /tmp/mb-dym }
            profiles:
              default: { allow_mutating_upstreams: [memory], allow_mutating_tools: ["memory.create_*"] }
            upstreams:
              memory: { args: [-y, "@modelcontextprotocol/server-memory"] }
            """, "/etc/broker.yaml", _ => null);

        var issue = Assert.Single(result.Issues);
        Assert.Equal("upstreams.memory.command", issue.Path);
        Assert.StartsWith("a stdio upstream needs a command", issue.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AnAllowanceWithATypo_WarnsWithTheName()
    {
        var result = ConfigLoader.Load("""
            schema_version: 1
            runtime: { root: /tmp/mb-dym }
            profiles:
              default: { allow_mutating_upstreams: [memroy] }
            upstreams:
              memory: { command: npx }
            """, "/etc/broker.yaml", _ => null);

        var warning = Assert.Single(result.Warnings);
        Assert.StartsWith("'memroy' matches no upstream; did you mean 'memory'?; defined: memory", warning.Message, StringComparison.Ordinal);
    }
}
