using BenchmarkDotNet.Attributes;
using McpBroker.Catalog;

namespace McpBroker.Bench;

/// <summary>
/// Search latency over 1k, 5k and 20k tools (the captured real catalog, repeated under distinct server names), and
/// the cost of re-indexing one changed upstream. Budget: search ≤ 1 ms p50 at 5k tools.
/// </summary>
[MemoryDiagnoser]
public class SearchSpeed
{
    private static readonly string[] s_queries =
    [
        "remember that my sister likes tea", "take a screenshot of the page", "open a ticket about the crash",
        "list the files in my project folder", "delete the old branch",
    ];

    private SearchIndex _index = null!;
    private SearchSegment[] _segments = null!;
    private SearchDocument[] _oneUpstream = null!;
    private int _next;

    [Params(1_000, 5_000, 20_000)]
    public int Tools { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var catalog = SearchEvaluation.LoadCatalog(SearchEvaluation.DataDir(Program.RepoRoot));
        var copies = (Tools + catalog.Count - 1) / catalog.Count;
        _segments = [.. Enumerable.Range(0, copies).SelectMany(c => catalog
            .GroupBy(d => d.Key.Split('.')[0])
            .Select(g => SearchSegment.Build(g.Select(d => d with { Key = $"{g.Key}{c}.{d.Key[(d.Key.IndexOf('.') + 1)..]}" }))))];
        _index = SearchIndex.Compose(_segments);
        _oneUpstream = [.. _segments[0].Documents];
    }

    [Benchmark]
    public int Search() => _index.Search(s_queries[_next++ % s_queries.Length], 8).Count;

    /// <summary>One upstream's tools changed: rebuild its segment and compose the index again.</summary>
    [Benchmark]
    public int ReindexOneUpstream()
    {
        var segments = (SearchSegment[])_segments.Clone();
        segments[0] = SearchSegment.Build(_oneUpstream);
        return SearchIndex.Compose(segments).Count;
    }
}
