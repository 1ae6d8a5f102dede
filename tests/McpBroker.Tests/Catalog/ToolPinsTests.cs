using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Catalog;

/// <summary>Pinned tool definitions: the hash, the file they are kept in, and the quarantine of unapproved and changed tools.</summary>
public sealed class ToolPinsTests
{
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
