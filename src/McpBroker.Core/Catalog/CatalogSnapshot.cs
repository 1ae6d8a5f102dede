using System.Collections.Frozen;
using McpBroker.Config;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>An immutable view of every known tool list and the search index over them.</summary>
internal sealed class CatalogSnapshot
{
    private readonly Lazy<SearchIndex> _index;

    public CatalogSnapshot(long version, FrozenDictionary<string, UpstreamTools> upstreams)
    {
        Version = version;
        Upstreams = upstreams;
        _index = new Lazy<SearchIndex>(() => SearchIndex.Compose(upstreams.Values.Select(u => u.Segment)));
    }

    public long Version { get; }

    public FrozenDictionary<string, UpstreamTools> Upstreams { get; }

    public SearchIndex Index => _index.Value;

    public static string CanonicalName(UpstreamModel upstream, Tool tool) => $"{upstream.Prefix}.{tool.Name}";

    public static SearchDocument Document(UpstreamModel upstream, Tool tool) =>
        SearchDocument.From(CanonicalName(upstream, tool), tool, upstream.Purpose, upstream.Tags);
}
