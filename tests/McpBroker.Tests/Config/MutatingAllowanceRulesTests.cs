using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>The mutating and pin_tools settings as the config reads them, and allowances that can never apply.</summary>
public sealed class MutatingAllowanceRulesTests
{
    private static ConfigLoadResult Load(string yaml) =>
        ConfigLoader.Load(yaml, "/etc/broker.yaml", name => name == "HOME" ? "/home/ada" : null);

    [Fact]
    public void Mutating_And_PinTools_AcceptBooleansAndTheirWord_AndPinningTakesTheStrictestSetting()
    {
        var model = Load("""
            schema_version: 1
            profiles:
              strict: { upstreams: [a], pin_tools: true }
              loose: { upstreams: [a, b, c] }
            upstreams:
              a: { command: x, mutating: true, pin_tools: trust_on_first_use }
              b: { command: x, mutating: false, pin_tools: trust_on_first_use }
              c: { command: x, tools: { t: { mutating: false } } }
            """).Model!;

        Assert.Equal(MutatingSetting.True, model.FindUpstream("a")!.Mutating);
        Assert.Equal(MutatingSetting.False, model.FindUpstream("b")!.Mutating);
        Assert.Equal(MutatingSetting.Auto, model.FindUpstream("c")!.Mutating);
        Assert.Equal(PinSetting.True, model.FindUpstream("a")!.PinTools);
        Assert.Equal(PinSetting.TrustOnFirstUse, model.FindUpstream("b")!.PinTools);
        Assert.Equal(PinSetting.False, model.FindUpstream("c")!.PinTools);
        Assert.False(model.FindUpstream("c")!.ToolOverrides["t"].Mutating);
    }

    [Theory]
    [InlineData("mutating: sometimes", "upstreams.a.mutating", "is not one of true, false, auto")]
    [InlineData("pin_tools: yes", "upstreams.a.pin_tools", "is not one of true, false, trust_on_first_use")]
    [InlineData("tools: { t: { mutating: auto } }", "upstreams.a.tools.t.mutating", "expected true or false")]
    public void Load_BadMutatingOrPinSetting_SaysWhatIsAllowed(string body, string path, string expected)
    {
        var result = Load($"schema_version: 1\nupstreams:\n  a:\n    command: x\n    {body}\n");

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == path && e.Message.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Allowances_ThatCanNeverApply_AndAHiddenMutatingUpstream_AreReported()
    {
        var result = Load("""
            schema_version: 1
            profiles:
              p:
                allow_mutating_upstreams: [memroy]
                allow_mutating_tools: [gh.create_*, create_issue]
                tools_page_size: -1
            upstreams:
              memory: { command: x }
              writer: { command: x, mutating: true }
            """);

        Assert.Contains(result.Errors, e => e.Path == "profiles.p.allow_mutating_tools[1]" && e.Message.Contains("write prefix.tool", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Path == "profiles.p.tools_page_size");
        Assert.Contains(result.Issues, w => w.Path == "profiles.p.allow_mutating_upstreams[0]" && w.Message.Contains("matches no upstream", StringComparison.Ordinal));
        Assert.Contains(result.Issues, w => w.Path == "profiles.p.allow_mutating_tools[0]" && w.Message.Contains("matches no upstream prefix", StringComparison.Ordinal));
        Assert.Contains(result.Issues, w => w.Path == "profiles.p" && w.Message.Contains("sees upstream 'writer' (mutating: true) but allows none", StringComparison.Ordinal));
    }
}
