using System.Collections.Frozen;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Exposure;

/// <summary>Which tools count as mutating (override, then setting, then the read-only hint) and which a profile allows.</summary>
public sealed class MutatingGateTests
{
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
