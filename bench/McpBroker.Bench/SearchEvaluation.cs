using System.Text.Json;
using McpBroker.Catalog;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Bench;

/// <summary>
/// One task-style query and the tools that would serve it (canonical names); for the corpus evaluation also its kind
/// (single, equivalent, named) and half (dev, test).
/// </summary>
internal sealed record EvalQuery(string Query, IReadOnlyList<string> Relevant, string Kind = "single", string Split = "dev");

/// <summary>Where a query's first relevant tool ranked (null: not in the top <see cref="SearchEvaluation.Depth"/>).</summary>
internal sealed record EvalOutcome(EvalQuery Query, int? Rank, IReadOnlyList<string> Top);

/// <summary>
/// Recall, MRR and, over the requests that name a system, the share whose first result is another system's tool
/// (null when there are none).
/// </summary>
internal sealed record EvalReport(int Queries, int Tools, int Servers, double RecallAt1, double RecallAt5, double Mrr, IReadOnlyList<EvalOutcome> Outcomes)
{
    public double? WrongSystemFirst { get; init; }
}

/// <summary>The corpus evaluation's requests and which servers are one system (two GitLab servers are both GitLab).</summary>
internal sealed record CorpusQueries(IReadOnlyList<EvalQuery> Queries, IReadOnlyDictionary<string, string> Systems)
{
    public string SystemOf(string key)
    {
        var server = key[..Math.Max(0, key.IndexOf('.', StringComparison.Ordinal))];
        return Systems.GetValueOrDefault(server) ?? server;
    }
}

/// <summary>
/// The search evaluations of bench/search-eval. The first: tool lists captured from 16 real MCP servers (catalog/*.json)
/// and 103 queries (queries.json), the set the ranking was first tuned on. The second, larger: the 37 real servers of
/// the compatibility corpus (corpus/*.json) and 425 requests written before any ranking was run (corpus-queries.json),
/// split once into dev (tune on it) and test (report it, never tune on it). Shared by the quality test and the bench report.
/// </summary>
internal static class SearchEvaluation
{
    public const int Depth = 10;

    public static string DataDir(string repoRoot) => Path.Combine(repoRoot, "bench", "search-eval");

    /// <summary>Every captured tool as the broker would index it: canonical name server.tool, the server's purpose and tags.</summary>
    public static IReadOnlyList<SearchDocument> LoadCatalog(string dataDir, string folder = "catalog") =>
        [.. LoadTools(dataDir, folder).Select(t => SearchDocument.From(t.Key, t.Tool, t.Purpose, t.Tags))];

    /// <summary>Every captured tool, by canonical name, as its server listed it.</summary>
    public static IReadOnlyList<(string Key, Tool Tool, string? Purpose, IReadOnlyList<string> Tags)> LoadTools(string dataDir, string folder = "catalog")
    {
        var tools = new List<(string, Tool, string?, IReadOnlyList<string>)>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(dataDir, folder), "*.json").Order(StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            var server = doc.RootElement.GetProperty("server").GetString()!;
            var purpose = doc.RootElement.TryGetProperty("purpose", out var p) ? p.GetString() : null;
            IReadOnlyList<string> tags = doc.RootElement.TryGetProperty("tags", out var t) ? [.. t.EnumerateArray().Select(e => e.GetString()!)] : [];
            foreach (var element in doc.RootElement.GetProperty("tools").EnumerateArray())
            {
                var tool = element.Deserialize(McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!;
                tools.Add(($"{server}.{tool.Name}", tool, purpose, tags));
            }
        }

        return tools;
    }

    public static IReadOnlyList<EvalQuery> LoadQueries(string dataDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dataDir, "queries.json")));
        return [.. doc.RootElement.EnumerateArray().Select(q => new EvalQuery(
            q.GetProperty("query").GetString()!,
            [.. q.GetProperty("relevant").EnumerateArray().Select(r => r.GetString()!)]))];
    }

    public static CorpusQueries LoadCorpusQueries(string dataDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dataDir, "corpus-queries.json")));
        var systems = doc.RootElement.GetProperty("systems").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
        return new CorpusQueries([.. doc.RootElement.GetProperty("queries").EnumerateArray().Select(q => new EvalQuery(
            q.GetProperty("query").GetString()!,
            [.. q.GetProperty("relevant").EnumerateArray().Select(r => r.GetString()!)],
            q.GetProperty("kind").GetString()!,
            q.GetProperty("split").GetString()!))], systems);
    }

    public static EvalReport Run(IReadOnlyList<SearchDocument> catalog, IReadOnlyList<EvalQuery> queries, Func<string, int, IReadOnlyList<string>> search,
        Func<string, string>? systemOf = null)
    {
        var outcomes = queries.Select(q =>
        {
            var top = search(q.Query, Depth);
            var rank = top.Select((key, i) => (key, i)).FirstOrDefault(x => q.Relevant.Contains(x.key)).key is null
                ? (int?)null
                : top.Select((key, i) => (key, i)).First(x => q.Relevant.Contains(x.key)).i + 1;
            return new EvalOutcome(q, rank, top);
        }).ToList();
        systemOf ??= key => key.Split('.')[0];
        var named = outcomes.Where(o => o.Query.Kind == "named").ToList();
        return new EvalReport(
            queries.Count,
            catalog.Count,
            catalog.Select(d => d.Key.Split('.')[0]).Distinct().Count(),
            outcomes.Average(o => o.Rank == 1 ? 1.0 : 0.0),
            outcomes.Average(o => o.Rank <= 5 ? 1.0 : 0.0),
            outcomes.Average(o => o.Rank is { } r ? 1.0 / r : 0.0),
            outcomes)
        {
            // A named request's first result belongs to a system none of its acceptable tools belong to.
            WrongSystemFirst = named.Count == 0 ? null : named.Average(o =>
                o.Top.Count > 0 && !o.Query.Relevant.Select(systemOf).Contains(systemOf(o.Top[0])) ? 1.0 : 0.0),
        };
    }

    /// <summary>The broker's ranking.</summary>
    public static Func<string, int, IReadOnlyList<string>> Broker(IReadOnlyList<SearchDocument> catalog)
    {
        var index = SearchIndex.Build(catalog);
        return (query, limit) => [.. index.Search(query, limit).Select(h => h.Key)];
    }
}
