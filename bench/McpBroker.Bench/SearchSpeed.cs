using BenchmarkDotNet.Attributes;
using McpBroker.Catalog;

namespace McpBroker.Bench;

/// <summary>
/// Search latency over 1k, 5k and 20k tools (the compatibility corpus' 573 real tools, repeated under distinct server
/// names), and the cost of re-indexing one changed upstream. Budget: search ≤ 1 ms p50 at 5k tools.
/// </summary>
[MemoryDiagnoser]
public class SearchSpeed
{
    private static readonly string[] s_queries =
    [
        "remember that my sister likes tea", "take a screenshot of the page", "open a ticket about the crash",
        "list the files in my project folder", "delete the old branch", "create an issue in GitLab for the broken pipeline",
        "book a flight to Tokyo for next Friday", "what's the weather like? search online",
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
        var catalog = SearchEvaluation.LoadCatalog(SearchEvaluation.DataDir(Program.RepoRoot), "corpus");
        var copies = (Tools + catalog.Count - 1) / catalog.Count;
        _segments = [.. Enumerable.Range(0, copies).SelectMany(c => catalog
            .GroupBy(d => d.Key.Split('.')[0])
            .Select(g => SearchSegment.Build(g.Select(d => d with { Key = $"{g.Key}{c}.{d.Key[(d.Key.IndexOf('.') + 1)..]}" }))))];
        _index = SearchIndex.Compose(_segments);
        _oneUpstream = [.. _segments[0].Documents];
    }

    [Benchmark]
    public int Search() => _index.Search(s_queries[_next++ % s_queries.Length], 8).Count;

    /// <summary>The queries <see cref="Search"/> takes in turn.</summary>
    public static IReadOnlyList<string> Queries => s_queries;

    /// <summary>One upstream's tools changed: rebuild its segment and compose the index again.</summary>
    [Benchmark]
    public int ReindexOneUpstream()
    {
        var segments = (SearchSegment[])_segments.Clone();
        segments[0] = SearchSegment.Build(_oneUpstream);
        return SearchIndex.Compose(segments).Count;
    }
}

/// <summary>A quick in-process timing of <see cref="SearchSpeed.Search"/> (no BenchmarkDotNet): p50 and p95 over many runs.</summary>
internal static class SearchTiming
{
    public static void Run(int tools)
    {
        var bench = new SearchSpeed { Tools = tools };
        bench.Setup();
        for (var i = 0; i < 200; i++)
        {
            bench.Search();
        }

        var times = new List<double>();
        for (var i = 0; i < 2000; i++)
        {
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            bench.Search();
            times.Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        Console.WriteLine($"{tools} tools: search p50 {Percentile(times, 0.5):0.000} ms, p95 {Percentile(times, 0.95):0.000} ms");
        var count = SearchSpeed.Queries.Count;
        for (var q = 0; q < count; q++)
        {
            Console.WriteLine($"   p50 {Percentile([.. times.Where((_, i) => (i + 200) % count == q)], 0.5):0.000} ms  \"{SearchSpeed.Queries[q]}\"");
        }
    }

    private static double Percentile(List<double> times, double p)
    {
        var sorted = times.Order().ToList();
        return sorted[(int)(sorted.Count * p)];
    }
}
