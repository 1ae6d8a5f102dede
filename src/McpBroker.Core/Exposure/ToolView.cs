using System.Collections.Frozen;
using McpBroker.Catalog;
using McpBroker.Config;
using ModelContextProtocol.Protocol;

namespace McpBroker.Exposure;

/// <summary>A tool as one profile sees it.</summary>
internal sealed record ExposedTool(string ExposedName, string CanonicalName, UpstreamModel Upstream, Tool Tool)
{
    /// <summary>The spec's defaults make a tool without <c>readOnlyHint: true</c> one that may change things.</summary>
    public bool Mutating => Tool.Annotations?.ReadOnlyHint != true;
}

/// <summary>
/// What one profile sees of one catalog snapshot: its tools by exposed and by canonical name. Built once per
/// (profile, catalog version), then only read.
/// </summary>
internal sealed class ToolView
{
    private readonly FrozenDictionary<string, ExposedTool> _byName;

    private ToolView(ProfileModel profile, long version, IReadOnlyList<ExposedTool> tools)
    {
        Profile = profile;
        CatalogVersion = version;
        Tools = tools;
        var byName = new Dictionary<string, ExposedTool>(StringComparer.Ordinal);
        foreach (var tool in tools)
        {
            byName.TryAdd(tool.ExposedName, tool);
        }

        foreach (var tool in tools)
        {
            byName.TryAdd(tool.CanonicalName, tool);
        }

        _byName = byName.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public ProfileModel Profile { get; }

    public long CatalogVersion { get; }

    public IReadOnlyList<ExposedTool> Tools { get; }

    public static ToolView Build(ProfileModel profile, CatalogSnapshot snapshot)
    {
        var entries = profile.Upstreams
            .Select(u => snapshot.Upstreams.GetValueOrDefault(u))
            .OfType<UpstreamTools>()
            .SelectMany(u => u.Tools.Select(t => (u.Upstream, Tool: t)))
            .ToList();
        var names = ToolNames.Expose(entries.Select(e => (e.Upstream.Prefix, e.Tool.Name)), profile.NameStyle);
        var tools = entries
            .Select(e => new ExposedTool(names[CatalogSnapshot.CanonicalName(e.Upstream, e.Tool)], CatalogSnapshot.CanonicalName(e.Upstream, e.Tool), e.Upstream, e.Tool))
            .ToList();
        return new ToolView(profile, snapshot.Version, tools);
    }

    /// <summary>Resolves an exposed or canonical name, exactly as written (no case folding, no trimming).</summary>
    public ExposedTool? Find(string name) => _byName.GetValueOrDefault(name);

    public bool Contains(string canonicalName) => _byName.TryGetValue(canonicalName, out var t) && t.CanonicalName == canonicalName;
}
