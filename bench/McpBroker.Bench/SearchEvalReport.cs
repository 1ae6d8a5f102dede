using McpBroker.Catalog;

namespace McpBroker.Bench;

internal static class SearchEvalReport
{
    public static void Print(bool misses)
    {
        var dir = SearchEvaluation.DataDir(Program.RepoRoot);
        var catalog = SearchEvaluation.LoadCatalog(dir);
        var queries = SearchEvaluation.LoadQueries(dir);
        var plain = new PlainBm25(catalog);
        var broker = SearchEvaluation.Run(catalog, queries, SearchEvaluation.Broker(catalog));
        var baseline = SearchEvaluation.Run(catalog, queries, plain.Search);
        Console.WriteLine($"{broker.Queries} queries over {broker.Tools} tools of {broker.Servers} servers");
        Console.WriteLine("| ranking | recall@1 | recall@5 | MRR |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine($"| broker (BM25F + synonyms) | {broker.RecallAt1:0.000} | {broker.RecallAt5:0.000} | {broker.Mrr:0.000} |");
        Console.WriteLine($"| plain BM25 (one field) | {baseline.RecallAt1:0.000} | {baseline.RecallAt5:0.000} | {baseline.Mrr:0.000} |");
        var tools = SearchEvaluation.LoadTools(dir).ToDictionary(t => t.Key, t => t.Tool);
        var index = SearchIndex.Build(catalog);
        var matchTokens = queries.SelectMany(q => index.Search(q.Query, 8))
            .Select(h => McpBroker.Measure.ContextCost.Tokens(McpBroker.Facade.BrokerFacade.Match(h.Key, tools[h.Key], h.Key.Split('.')[0], mutating: true).ToJsonString()))
            .ToList();
        Console.WriteLine($"search match: {matchTokens.Average():0.0} o200k tokens on average ({matchTokens.Count} matches, top 8 of each query)");
        if (misses)
        {
            foreach (var o in broker.Outcomes.Where(o => o.Rank != 1))
            {
                Console.WriteLine($"rank {(o.Rank?.ToString() ?? "-"),-2} \"{o.Query.Query}\" wants {string.Join(" | ", o.Query.Relevant)}; got {string.Join(", ", o.Top.Take(3))}");
            }
        }
    }
}
