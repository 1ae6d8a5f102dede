using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Exposure;

public sealed class MutatingGateAndToolPinsTests
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

    [Theory]
    [InlineData(MutatingSetting.Auto, null, null, true)]
    [InlineData(MutatingSetting.Auto, true, null, false)]
    [InlineData(MutatingSetting.Auto, false, null, true)]
    [InlineData(MutatingSetting.True, true, null, true)]
    [InlineData(MutatingSetting.False, false, null, false)]
    [InlineData(MutatingSetting.True, true, false, false)]
    [InlineData(MutatingSetting.False, true, true, true)]
    public void IsMutating_OverrideThenSettingThenReadOnlyHint(MutatingSetting setting, bool? readOnlyHint, bool? overrideMutating, bool expected)
    {
        var upstream = Upstream(setting, overrideMutating);
        var tool = new Tool { Name = "t", InputSchema = JsonElement.Parse("""{"type":"object"}"""), Annotations = readOnlyHint is null ? null : new ToolAnnotations { ReadOnlyHint = readOnlyHint } };

        Assert.Equal(expected, MutatingGate.IsMutating(upstream, tool));
    }

    [Theory]
    [InlineData(new[] { "mem*" }, new string[0], "memory.create", true)]
    [InlineData(new string[0], new[] { "memory.create_*" }, "memory.create_entities", true)]
    [InlineData(new string[0], new[] { "*.write_file" }, "fs.write_file", true)]
    [InlineData(new string[0], new[] { "memory.create_*" }, "memory.delete_entities", false)]
    [InlineData(new string[0], new[] { "Memory.create_*" }, "memory.create_entities", false)]
    [InlineData(new[] { "memory " }, new string[0], "memory.create", false)]
    public void Allows_GlobsOverUpstreamNamesOrCanonicalNames(string[] upstreams, string[] tools, string canonical, bool expected)
    {
        var profile = new ProfileModel("p", null, true, 10, ToolNameStyle.Dotted, ["memory"]) { AllowMutatingUpstreams = upstreams, AllowMutatingTools = tools };
        var upstream = Upstream(MutatingSetting.Auto, null) with { Name = canonical.Split('.')[0] == "fs" ? "fs" : "memory" };

        Assert.Equal(expected, MutatingGate.Allows(profile, upstream, canonical));
    }

    [Fact]
    public void Pins_HashIgnoresKeyOrder_AndChangesNameTheFieldsThatDiffer()
    {
        var a = new Tool { Name = "t", Description = "one", InputSchema = JsonElement.Parse("""{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}""") };
        var reordered = new Tool { Name = "t", Description = "one", InputSchema = JsonElement.Parse("""{"properties":{"b":{"type":"number"},"a":{"type":"string"}},"type":"object"}""") };
        var changed = new Tool { Name = "t", Description = "two", InputSchema = JsonElement.Parse("""{"type":"object","properties":{"a":{"type":"string"}}}"""), Annotations = new ToolAnnotations { ReadOnlyHint = true } };

        Assert.Equal(ToolPins.Hash(ToolPins.Canonical(a)), ToolPins.Hash(ToolPins.Canonical(reordered)));
        Assert.NotEqual(ToolPins.Hash(ToolPins.Canonical(a)), ToolPins.Hash(ToolPins.Canonical(changed)));
        Assert.Equal("annotations, description, inputSchema", ToolPins.Changes(ToolPins.Canonical(a), ToolPins.Canonical(changed)));
    }

    [Fact]
    public void Pins_SavedAndLoaded_RoundTrip_AndAnUnreadableFileIsReportedAsNoPins()
    {
        var dir = Directory.CreateTempSubdirectory("pins-").FullName;
        try
        {
            var pin = ToolPins.Pin(new Tool { Name = "t", Description = "d", InputSchema = JsonElement.Parse("""{"type":"object"}""") }, DateTimeOffset.UnixEpoch);
            ToolPins.Save(dir, "up", new Dictionary<string, ToolPin> { ["t"] = pin });

            var loaded = ToolPins.Load(dir, "up", _ => Assert.Fail("readable pins reported unreadable"));
            Assert.Equal(pin.Sha256, loaded["t"].Sha256);
            Assert.True(JsonNode.DeepEquals(pin.Definition, loaded["t"].Definition));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ToolPins.PathFor(dir, "up")));

            File.WriteAllText(ToolPins.PathFor(dir, "up"), "{not json");
            string? reason = null;
            Assert.Empty(ToolPins.Load(dir, "up", r => reason = r));
            Assert.Contains("up.json", reason);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UpstreamTools_WithPins_QuarantinesUnapprovedAndChangedTools_AndNotHiddenOnes()
    {
        var tool = new Tool { Name = "t", Description = "d", InputSchema = JsonElement.Parse("""{"type":"object"}""") };
        var other = new Tool { Name = "u", Description = "e", InputSchema = JsonElement.Parse("""{"type":"object"}""") };
        var hidden = new Tool { Name = "h", Description = "x", InputSchema = JsonElement.Parse("""{"type":"object"}""") };
        var upstream = Upstream(MutatingSetting.Auto, null) with
        {
            PinTools = PinSetting.True,
            ToolOverrides = new Dictionary<string, ToolOverride> { ["h"] = new(true, null, new Dictionary<string, JsonElement>()) }.ToFrozenDictionary(),
        };
        var pins = new Dictionary<string, ToolPin> { ["t"] = ToolPins.Pin(tool, DateTimeOffset.UnixEpoch), ["u"] = ToolPins.Pin(other, DateTimeOffset.UnixEpoch) };
        var changedOther = new Tool { Name = "u", Description = "e, but different", InputSchema = JsonElement.Parse("""{"type":"object"}""") };
        var newcomer = new Tool { Name = "n", Description = "new", InputSchema = JsonElement.Parse("""{"type":"object"}""") };

        var entry = new UpstreamTools(upstream, [tool, changedOther, newcomer, hidden], DateTimeOffset.UnixEpoch, pins);

        Assert.Equal(["t"], entry.Tools.Select(t => t.Name));
        Assert.Equal(["u", "n"], entry.Quarantined.Select(q => q.Tool.Name));
        Assert.EndsWith(": description", entry.Quarantined[0].Reason);
        Assert.Equal("not approved yet", entry.Quarantined[1].Reason);
        Assert.Equal(new UpstreamTools(upstream, [tool, changedOther, newcomer, hidden], DateTimeOffset.Now, pins).Signature, entry.Signature);
        Assert.Equal(4, new UpstreamTools(upstream with { PinTools = PinSetting.False }, [tool, changedOther, newcomer, hidden], DateTimeOffset.UnixEpoch, pins).Tools.Count + 1);
    }

    [Fact]
    public void Clients_Section_FillsDefaults_AndExpandsPaths()
    {
        var result = Load("""
            schema_version: 1
            profiles: { default: {}, codex: {} }
            clients:
              codex: { format: codex-toml, profile: codex }
              gem: { format: gemini-settings, config_path: "~/g/settings.json", entry_name: broker }
              vs: { format: vscode, config_path: /work/.vscode/mcp.json, mcp_allowed_servers: [x] }
            """);

        var clients = result.Model!.Clients;
        Assert.Equal(new ClientModel("codex", ClientFormat.CodexToml, "/home/ada/.codex/config.toml", "mcp-broker", "codex", null), clients["codex"]);
        Assert.Equal("/home/ada/g/settings.json", clients["gem"].ConfigPath);
        Assert.Equal("broker", clients["gem"].EntryName);
        Assert.Null(clients["gem"].McpAllowedServers);
        Assert.Equal("default", clients["vs"].Profile);
        Assert.Contains(result.Warnings, w => w.Path == "clients.vs.mcp_allowed_servers");
    }

    private static UpstreamModel Upstream(MutatingSetting setting, bool? overrideMutating) =>
        new("memory", "memory", UpstreamTransport.Stdio, UpstreamMode.Shared, "x", [], "/tmp",
            System.Collections.Frozen.FrozenDictionary<string, string>.Empty, System.Collections.Frozen.FrozenDictionary<string, string>.Empty,
            System.Collections.Frozen.FrozenDictionary<string, string>.Empty, null, [], TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1))
        {
            Mutating = setting,
            ToolOverrides = overrideMutating is null
                ? System.Collections.Frozen.FrozenDictionary<string, ToolOverride>.Empty
                : new Dictionary<string, ToolOverride> { ["t"] = new(false, null, new Dictionary<string, JsonElement>()) { Mutating = overrideMutating } }.ToFrozenDictionary(),
        };
}
