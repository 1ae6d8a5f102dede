using McpBroker.Catalog;

namespace McpBroker.Bench;

internal static class SearchEvalReport
{
    /// <summary>
    /// Both evaluations, every time: the corpus one's dev and test halves (per kind too), then the 103 queries the ranking
    /// was first tuned on. <paramref name="misses"/> lists the dev half's misses only: the test half is never looked into.
    /// </summary>
    public static void Print(bool misses)
    {
        var dir = SearchEvaluation.DataDir(Program.RepoRoot);
        var corpus = SearchEvaluation.LoadCatalog(dir, "corpus");
        var requests = SearchEvaluation.LoadCorpusQueries(dir);
        var broker = SearchEvaluation.Broker(corpus);
        var plain = new PlainBm25(corpus);
        Console.WriteLine($"corpus: {requests.Queries.Count} requests over {corpus.Count} tools of {corpus.Select(d => d.Key.Split('.')[0]).Distinct().Count()} servers");
        Console.WriteLine("| half | kind | ranking | requests | recall@1 | recall@5 | MRR | wrong system first (named) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var split in new[] { "dev", "test" })
        {
            foreach (var kind in new[] { "all", "single", "equivalent", "named" })
            {
                var set = requests.Queries.Where(q => q.Split == split && (kind == "all" || q.Kind == kind)).ToList();
                Row(split, kind, "broker", SearchEvaluation.Run(corpus, set, broker, requests.SystemOf));
                if (kind == "all")
                {
                    Row(split, kind, "plain BM25", SearchEvaluation.Run(corpus, set, plain.Search, requests.SystemOf));
                }
            }
        }

        var catalog = SearchEvaluation.LoadCatalog(dir);
        var queries = SearchEvaluation.LoadQueries(dir);
        var tuned = SearchEvaluation.Run(catalog, queries, SearchEvaluation.Broker(catalog));
        var tunedPlain = SearchEvaluation.Run(catalog, queries, new PlainBm25(catalog).Search);
        Console.WriteLine();
        Console.WriteLine($"tuned-on set (the ranking was first tuned on it): {tuned.Queries} queries over {tuned.Tools} tools of {tuned.Servers} servers");
        Console.WriteLine($"| tuned-on | all | broker | {tuned.Queries} | {tuned.RecallAt1:0.000} | {tuned.RecallAt5:0.000} | {tuned.Mrr:0.000} | |");
        Console.WriteLine($"| tuned-on | all | plain BM25 | {tunedPlain.Queries} | {tunedPlain.RecallAt1:0.000} | {tunedPlain.RecallAt5:0.000} | {tunedPlain.Mrr:0.000} | |");

        var tools = SearchEvaluation.LoadTools(dir).ToDictionary(t => t.Key, t => t.Tool);
        var index = SearchIndex.Build(catalog);
        var matchTokens = queries.SelectMany(q => index.Search(q.Query, 8))
            .Select(h => McpBroker.Measure.ContextCost.Tokens(McpBroker.Facade.BrokerFacade.Match(h.Key, tools[h.Key], h.Key.Split('.')[0], mutating: true).ToJsonString()))
            .ToList();
        Console.WriteLine($"search match: {matchTokens.Average():0.0} o200k tokens on average ({matchTokens.Count} matches, top 8 of each query)");
        if (misses)
        {
            var dev = SearchEvaluation.Run(corpus, [.. requests.Queries.Where(q => q.Split == "dev")], broker, requests.SystemOf);
            foreach (var o in dev.Outcomes.Where(o => o.Rank != 1))
            {
                Console.WriteLine($"rank {(o.Rank?.ToString() ?? "-"),-2} [{o.Query.Kind}] \"{o.Query.Query}\" wants {string.Join(" | ", o.Query.Relevant)}; got {string.Join(", ", o.Top.Take(3))}");
            }
        }
    }

    private static void Row(string split, string kind, string ranking, EvalReport r) =>
        Console.WriteLine($"| {split} | {kind} | {ranking} | {r.Queries} | {r.RecallAt1:0.000} | {r.RecallAt5:0.000} | {r.Mrr:0.000} | {(r.WrongSystemFirst is { } w ? $"{w:0.000}" : "")} |");
}
