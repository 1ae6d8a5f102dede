using System.Text.Json;
using McpBroker.Catalog;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Bench;

/// <summary>One task-style query and the tools that would serve it (canonical names).</summary>
internal sealed record EvalQuery(string Query, IReadOnlyList<string> Relevant);

/// <summary>Where a query's first relevant tool ranked (null: not in the top <see cref="SearchEvaluation.Depth"/>).</summary>
internal sealed record EvalOutcome(EvalQuery Query, int? Rank, IReadOnlyList<string> Top);

internal sealed record EvalReport(int Queries, int Tools, int Servers, double RecallAt1, double RecallAt5, double Mrr, IReadOnlyList<EvalOutcome> Outcomes);

/// <summary>
/// The search evaluation of bench/search-eval: tool lists captured from real MCP servers (catalog/*.json) and
/// task-style queries with their acceptable tools (queries.json). Shared by the quality test and the bench report.
/// </summary>
internal static class SearchEvaluation
{
    public const int Depth = 10;

    public static string DataDir(string repoRoot) => Path.Combine(repoRoot, "bench", "search-eval");

    /// <summary>Every captured tool as the broker would index it: canonical name server.tool, the server's purpose.</summary>
    public static IReadOnlyList<SearchDocument> LoadCatalog(string dataDir) =>
        [.. LoadTools(dataDir).Select(t => SearchDocument.From(t.Key, t.Tool, t.Purpose, []))];

    /// <summary>Every captured tool, by canonical name, as its server listed it.</summary>
    public static IReadOnlyList<(string Key, Tool Tool, string? Purpose)> LoadTools(string dataDir)
    {
        var tools = new List<(string, Tool, string?)>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(dataDir, "catalog"), "*.json").Order(StringComparer.Ordinal))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            var server = doc.RootElement.GetProperty("server").GetString()!;
            var purpose = doc.RootElement.TryGetProperty("purpose", out var p) ? p.GetString() : null;
            foreach (var element in doc.RootElement.GetProperty("tools").EnumerateArray())
            {
                var tool = element.Deserialize(McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!;
                tools.Add(($"{server}.{tool.Name}", tool, purpose));
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

    public static EvalReport Run(IReadOnlyList<SearchDocument> catalog, IReadOnlyList<EvalQuery> queries, Func<string, int, IReadOnlyList<string>> search)
    {
        var outcomes = queries.Select(q =>
        {
            var top = search(q.Query, Depth);
            var rank = top.Select((key, i) => (key, i)).FirstOrDefault(x => q.Relevant.Contains(x.key)).key is null
                ? (int?)null
                : top.Select((key, i) => (key, i)).First(x => q.Relevant.Contains(x.key)).i + 1;
            return new EvalOutcome(q, rank, top);
        }).ToList();
        return new EvalReport(
            queries.Count,
            catalog.Count,
            catalog.Select(d => d.Key.Split('.')[0]).Distinct().Count(),
            outcomes.Average(o => o.Rank == 1 ? 1.0 : 0.0),
            outcomes.Average(o => o.Rank <= 5 ? 1.0 : 0.0),
            outcomes.Average(o => o.Rank is { } r ? 1.0 / r : 0.0),
            outcomes);
    }

    /// <summary>The broker's ranking.</summary>
    public static Func<string, int, IReadOnlyList<string>> Broker(IReadOnlyList<SearchDocument> catalog)
    {
        var index = SearchIndex.Build(catalog);
        return (query, limit) => [.. index.Search(query, limit).Select(h => h.Key)];
    }
}
