using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>
/// What the schema says about a document, through the one validator (<see cref="ConfigSchema"/>): each error at the
/// YAML path of the value, saying what was found and what is allowed; refused values are left out of what the
/// semantic rules read, so they add no second error about the same value.
/// </summary>
public sealed class ConfigSchemaTests
{
    private static ConfigLoadResult Load(string rest) =>
        ConfigLoader.Load($"schema_version: 1\nruntime: {{ root: /tmp/mb-schema }}\n{rest}", "/etc/broker.yaml", _ => null);

    private static string Only(ConfigLoadResult result, string path)
    {
        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.Path);
        return error.Message;
    }

    [Theory]
    [InlineData("upstreams:\n  u: { command: x, args: [a, 1, b] }\n", "upstreams.u.args[1]", "expected a string, found '1'")]
    [InlineData("upstreams:\n  u: { command: x, mutating: yes }\n", "upstreams.u.mutating", "'yes' is not one of true, false, auto")]
    [InlineData("upstreams:\n  u: { command: x, idle_timeout: true }\n", "upstreams.u.idle_timeout", "'true' is not a duration; write seconds (30) or a number with ms, s, m or h (10m)")]
    [InlineData("upstreams:\n  u: { command: x, tags: t }\n", "upstreams.u.tags", "expected a list, found the string 't'")]
    [InlineData("upstreams:\n  u: { command: x, smoke: [] }\n", "upstreams.u.smoke", "expected a mapping of keys, found a list")]
    [InlineData("upstreams:\n  u: { command: [x] }\n", "upstreams.u.command", "expected a string, found a list")]
    [InlineData("profiles:\n  p: { compact_tools_enabled: 1 }\n", "profiles.p.compact_tools_enabled", "expected true or false, found '1'")]
    [InlineData("upstreams:\n  u: { command: x, max_queue: 1.5 }\n", "upstreams.u.max_queue", "expected a whole number, found '1.5'")]
    public void Load_OneWrongValue_OneErrorAtItsPathSayingWhatIsAllowed(string rest, string path, string message)
    {
        Assert.StartsWith(message, Only(Load(rest), path), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyRequiredString_SaysItIsTooShort()
    {
        var result = Load("clients:\n  c:\n    format: codex-toml\n    config_path: /tmp/mb-schema/c.toml\n    codex_apps_policy:\n      disable_connectors: [{ name: GitHub, reason: \"\" }]\n");

        Assert.StartsWith("'' is too short: write at least 1 character(s)", Only(result, "clients.c.codex_apps_policy.disable_connectors[0].reason"), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SectionThatIsNotAMappingButNeedsKeys_SaysBoth()
    {
        var result = Load("clients:\n  c: 5\n");

        Assert.Contains(result.Errors, e => e.Path == "clients.c" && e.Message.StartsWith("expected a mapping of keys, found '5'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Path == "clients.c.format" && e.Message == "missing required key 'format'");
    }

    [Fact]
    public void Load_SeveralWrongItemsOfOneList_EachNamedAndTheRestStillRead()
    {
        var result = Load("upstreams:\n  u: { command: x, args: [1, a, 2, b, 3] }\n  v: { command: y, prefix: u }\n");

        // u is still read without the refused items: its prefix collides with v's.
        Assert.Equal(["upstreams.u.args[0]", "upstreams.u.args[2]", "upstreams.u.args[4]", "upstreams.v.prefix"], result.Errors.Select(e => e.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Load_NullForAnOptionalSection_IsValid()
    {
        var result = Load("broker: ~\ntelemetry: ~\nprofiles:\n  p: ~\nupstreams:\n  u: { command: x, timeouts: ~ }\n");

        Assert.True(result.IsValid, string.Join("\n", result.Issues));
    }

    [Fact]
    public void Load_NonAsciiText_IsReadAsWritten()
    {
        var result = Load("upstreams:\n  u: { command: x, tools: { t: { defaults: { greeting: \"grüß dich ✓\" } } } }\n");

        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        Assert.Equal("\"grüß dich ✓\"", result.Model!.Upstreams[0].ToolOverrides["t"].Defaults["greeting"].GetRawText());
    }

    [Fact]
    public void IndentedJson_AMappingUsedAsAKey_IsNamedByItsJson()
    {
        var result = Load("upstreams:\n  ? { k: 1 }\n  : { command: y }\n");

        Assert.Equal("upstreams.{\n  \"k\": 1\n}", Assert.Single(result.Errors).Path);
    }
}
