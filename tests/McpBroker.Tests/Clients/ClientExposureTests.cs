using System.Text.Json.Nodes;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Measure;

namespace McpBroker.Tests.Clients;

/// <summary>
/// Which exposure <c>client apply</c> gives each client (Clients/ClientExposure), and what that puts in the client's
/// entry: the shim's <c>--view raw</c>, or the client's own setting to keep the facade loaded.
/// </summary>
public sealed class ClientExposureTests
{
    private static readonly ProfileModel s_compact = new("default", null, CompactToolsEnabled: true, 200, ToolNameStyle.Dotted, ["a"]);
    private static readonly ProfileModel s_raw = s_compact with { Name = "raw", CompactToolsEnabled = false };
    private static readonly ClientEntry s_entry = new("mcp-broker", "/opt/mcp-broker-client", ["--profile", "default", "--client", "x"]);

    [Fact]
    public void Choose_NoRequest_EveryClientGetsTheFacade_KeptLoadedByClaudeCodeAndCopilotSettings_AndNoViewArgument()
    {
        foreach (var format in Enum.GetValues<ClientFormat>())
        {
            var choice = ClientExposure.Choose(format, s_compact, null, null, out var error);

            Assert.Null(error);
            Assert.Equal(ToolExposure.Facade, choice!.Exposure);
            Assert.True(choice.KeepLoaded);
            Assert.Equal(s_entry.Args, ClientExposure.Apply(s_entry, choice).Args);
            Assert.StartsWith("default", choice.Reason, StringComparison.Ordinal);
            if (ClientFormats.IsJson(format))
            {
                var json = ClientFormats.Entry(format, ClientExposure.Apply(s_entry, choice));
                Assert.Equal(format == ClientFormat.ClaudeJson, json["alwaysLoad"] is JsonValue v && v.GetValue<bool>());
                Assert.Equal(format == ClientFormat.Copilot ? "never" : null, (string?)json["deferTools"]);
            }
        }
    }

    [Theory]
    [InlineData(ClientFormat.ClaudeJson)]
    [InlineData(ClientFormat.CodexToml)]
    [InlineData(ClientFormat.Copilot)]
    public void Choose_RawRequested_EntrySaysViewRaw_AndLeavesDeferringToTheClient(ClientFormat format)
    {
        var choice = ClientExposure.Choose(format, s_compact, ToolExposure.Raw, null, out _)!;
        var entry = ClientExposure.Apply(s_entry, choice);

        Assert.Equal(ToolExposure.Raw, choice.Exposure);
        Assert.Equal("--exposure raw", choice.Reason);
        Assert.Equal([.. s_entry.Args, "--view", "raw"], entry.Args);
        Assert.False(entry.KeepLoaded);
        if (ClientFormats.IsJson(format))
        {
            var json = ClientFormats.Entry(format, entry);
            Assert.Null(json["alwaysLoad"]);
            Assert.Null(json["deferTools"]);
        }
        else
        {
            Assert.Contains("\"--view\", \"raw\"", ClientFormats.Snippet(format, entry), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Choose_NoRequest_AnEntryAlreadyRaw_StaysRaw_UntilFacadeIsAskedFor_WhichTakesTheViewOut()
    {
        var current = ClientExposure.Apply(s_entry, ClientExposure.Choose(ClientFormat.ClaudeJson, s_compact, ToolExposure.Raw, null, out _)!).Args;

        var again = ClientExposure.Choose(ClientFormat.ClaudeJson, s_compact, null, current, out _)!;
        var back = ClientExposure.Choose(ClientFormat.ClaudeJson, s_compact, ToolExposure.Facade, current, out _)!;

        Assert.Equal(ToolExposure.Raw, again.Exposure);
        Assert.Contains("already says --view raw", again.Reason, StringComparison.Ordinal);
        Assert.Equal(current, ClientExposure.Apply(s_entry with { Args = current }, again).Args);
        Assert.Equal(ToolExposure.Facade, back.Exposure);
        Assert.Equal(s_entry.Args, ClientExposure.Apply(s_entry with { Args = current }, back).Args);
    }

    [Fact]
    public void Choose_ProfileListsRawTools_EveryClientIsRawWithoutAViewArgument_AndAskingForTheFacadeSaysWhatToChange()
    {
        var raw = ClientExposure.Choose(ClientFormat.GeminiSettings, s_raw, null, null, out var none);
        var facade = ClientExposure.Choose(ClientFormat.ClaudeJson, s_raw, ToolExposure.Facade, null, out var error);

        Assert.Null(none);
        Assert.Equal(ToolExposure.Raw, raw!.Exposure);
        Assert.Empty(raw.ShimArgs);
        Assert.Null(facade);
        Assert.Contains("profile 'raw' lists raw tools itself (compact_tools_enabled: false)", error, StringComparison.Ordinal);
        Assert.Contains("compact profile", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AsSeenThrough_AnEntryWithViewRaw_SeesTheRawViewWithoutABudget_AnyOtherEntryTheProfileItself()
    {
        var seen = ClientExposure.AsSeenThrough(s_compact, ["--profile", "default", "--view", "raw"]);

        Assert.False(seen.CompactToolsEnabled);
        Assert.Equal(int.MaxValue, seen.MaxTools);
        Assert.Same(s_compact, ClientExposure.AsSeenThrough(s_compact, ["--profile", "default"]));
        Assert.Same(s_compact, ClientExposure.AsSeenThrough(s_compact, null));
        Assert.Same(s_raw, ClientExposure.AsSeenThrough(s_raw, ["--view", "raw"]));
    }

    [Theory]
    [InlineData("facade", "facade")]
    [InlineData("raw", "raw")]
    [InlineData("compact", null)]
    [InlineData(null, null)]
    public void Parse_KnowsTheTwoNames(string? name, string? expected) =>
        Assert.Equal(expected, ClientExposure.Parse(name) is { } parsed ? ClientExposure.Name(parsed) : null);

    [Fact]
    public void ExposureCosts_ConfiguredClientsOfTheProfile_EachWithBothCostsAndTheirChoice_ElseTheClientsThatDiffer()
    {
        var home = Directory.CreateTempSubdirectory("exposure-test-").FullName;
        try
        {
            var claudeFile = Path.Combine(home, "claude.json");
            File.WriteAllText(claudeFile, """{"mcpServers":{"mcp-broker":{"command":"/x","args":["--profile","default","--view","raw"]}}}""");
            var yaml = $"schema_version: 1\nupstreams:\n  a:\n    command: /bin/a\nclients:\n  mine:\n    format: claude-json\n    config_path: {claudeFile}\n  gem:\n    format: gemini-settings\n    config_path: {Path.Combine(home, "none.json")}\n";
            var loaded = ConfigLoader.Load(yaml, Path.Combine(home, "broker.yaml"), v => v == "HOME" ? home : null);
            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            var model = loaded.Model!;
            var profile = model.Profiles["default"];
            var facade = new Cost(4, 1500, 400);
            var rawCost = new Cost(37, 34913, 7669);

            var rows = ClientExposureCosts.Of(model, profile, facade, rawCost);
            var others = ClientExposureCosts.Of(model with { Clients = System.Collections.Frozen.FrozenDictionary<string, ClientModel>.Empty }, profile, facade, rawCost);

            Assert.Equal(["gem", "mine"], rows.Select(r => r.Client));
            Assert.Equal([ToolExposure.Facade, ToolExposure.Raw], rows.Select(r => r.Choice!.Exposure));
            Assert.All(rows, r => Assert.Equal((facade, rawCost), (r.Facade, r.Raw)));
            var json = rows[1].ToJson();
            Assert.Equal("raw", (string?)json["exposure"]);
            Assert.Equal(7669, (int)json["raw"]!["tokens"]!);
            Assert.Equal("alwaysLoad: true", (string?)json["keep_loaded_setting"]);
            Assert.Equal(["claude", "codex", "copilot", "gemini", "cursor"], others.Select(r => r.Client));
            Assert.Null(others.Single(r => r.Client == "gemini").Loading.DefersMcpTools);
            Assert.NotNull(others.Single(r => r.Client == "codex").Loading.DefersMcpTools);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}
