using System.Collections.Frozen;
using McpBroker.Catalog;
using McpBroker.Config;
using ModelContextProtocol.Protocol;

namespace McpBroker.Exposure;

/// <summary>A tool as one profile sees it.</summary>
internal sealed record ExposedTool(string ExposedName, string CanonicalName, UpstreamModel Upstream, Tool Tool, bool Mutating);

/// <summary>Why a name a profile used does not lead to a tool it may call.</summary>
internal enum Withheld
{
    /// <summary>The tool mutates and the profile does not allow it.</summary>
    Mutating,

    /// <summary>The tool's definition is not the approved one.</summary>
    Quarantined,
}

/// <summary>
/// What one profile sees of one catalog snapshot: its tools by exposed and by canonical name, and the tools it
/// may not use (mutating and not allowed, or quarantined) so a call to one can say why. Built once per
/// (profile, catalog version), then only read.
/// </summary>
internal sealed class ToolView
{
    private readonly FrozenDictionary<string, ExposedTool> _byName;
    private readonly FrozenDictionary<string, (ExposedTool Tool, Withheld Why, string? Reason)> _withheld;

    private ToolView(ProfileModel profile, long version, IReadOnlyList<ExposedTool> tools,
        IReadOnlyList<(ExposedTool Tool, Withheld Why, string? Reason)> withheld)
    {
        Profile = profile;
        CatalogVersion = version;
        Tools = tools;
        _byName = ByName(tools, t => t);
        _withheld = ByName(withheld, w => w.Tool);
        Withheld = withheld;
    }

    public ProfileModel Profile { get; }

    public long CatalogVersion { get; }

    /// <summary>
    /// Names the list this view shows (its exposed names, in order): equal for views of other catalog versions that
    /// list the same tools, so a page cursor stays good while only upstreams outside the profile change.
    /// </summary>
    public string ListKey => _listKey ??= Convert.ToHexStringLower(Shared.Sha256.HashData(
        System.Text.Encoding.UTF8.GetBytes(string.Join('\n', Tools.Select(t => t.ExposedName)))))[..16];

    private string? _listKey;

    public IReadOnlyList<ExposedTool> Tools { get; }

    public IReadOnlyList<(ExposedTool Tool, Withheld Why, string? Reason)> Withheld { get; }

    public static ToolView Build(ProfileModel profile, CatalogSnapshot snapshot)
    {
        var entries = profile.Upstreams
            .Select(u => snapshot.Upstreams.GetValueOrDefault(u))
            .OfType<UpstreamTools>()
            .SelectMany(u => u.Tools.Select(t => (u.Upstream, Tool: t, Quarantine: (string?)null))
                .Concat(u.Quarantined.Select(q => (u.Upstream, q.Tool, Quarantine: (string?)q.Reason))))
            .ToList();

        // Names are given over every tool, withheld ones included, so a tool keeps its name when it is released.
        var names = ToolNames.Expose(entries.Select(e => (e.Upstream.Prefix, e.Tool.Name)), profile.NameStyle);
        var tools = new List<ExposedTool>();
        var withheld = new List<(ExposedTool, Withheld, string?)>();
        foreach (var (upstream, tool, quarantine) in entries)
        {
            var canonical = CatalogSnapshot.CanonicalName(upstream, tool);
            var exposed = new ExposedTool(profile.Transparent ? tool.Name : names[canonical], canonical, upstream, tool, MutatingGate.IsMutating(upstream, tool));
            if (quarantine is not null)
            {
                withheld.Add((exposed, Exposure.Withheld.Quarantined, quarantine));
            }
            else if (exposed.Mutating && !MutatingGate.Allows(profile, upstream, canonical))
            {
                withheld.Add((exposed, Exposure.Withheld.Mutating, null));
            }
            else
            {
                tools.Add(exposed);
            }
        }

        return new ToolView(profile, snapshot.Version, tools, withheld);
    }

    /// <summary>Resolves an exposed or canonical name, exactly as written (no case folding, no trimming).</summary>
    public ExposedTool? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Why a name, exactly as written, names a tool this profile may not use; null when it does not.</summary>
    public (ExposedTool Tool, Withheld Why, string? Reason)? FindWithheld(string name) =>
        _withheld.TryGetValue(name, out var w) ? w : null;

    public bool Contains(string canonicalName) => _byName.TryGetValue(canonicalName, out var t) && t.CanonicalName == canonicalName;

    private static FrozenDictionary<string, T> ByName<T>(IReadOnlyList<T> items, Func<T, ExposedTool> tool)
    {
        var byName = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            byName.TryAdd(tool(item).ExposedName, item);
        }

        foreach (var item in items)
        {
            byName.TryAdd(tool(item).CanonicalName, item);
        }

        return byName.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
