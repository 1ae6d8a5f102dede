using McpBroker.Catalog;

namespace McpBroker.Bench;

internal static class SearchEvalReport
{
    /// <summary>
    /// Both evaluations, every time: the corpus one's dev and test halves (per kind too), then the 103 queries the ranking
    /// was first tuned on. <paramref name="misses"/> lists the dev half's misses only: the test half is never looked into.
    /// </summary>
    public static void Print(bool misses, bool steps = false)
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
            .Select(h =>
            {
                var match = McpBroker.Facade.BrokerFacade.Match(h.Key, tools[h.Key], h.Key.Split('.')[0], mutating: true);
                match["matched"] = new System.Text.Json.Nodes.JsonArray([.. h.Matched.Select(w => (System.Text.Json.Nodes.JsonNode)w)]);
                return McpBroker.Measure.ContextCost.Tokens(match.ToJsonString());
            })
            .ToList();
        Console.WriteLine($"search match: {matchTokens.Average():0.0} o200k tokens on average ({matchTokens.Count} matches, top 8 of each query)");
        var servers = SearchEvaluation.LoadTools(dir, "corpus").GroupBy(t => t.Key.Split('.')[0])
            .Select(g => new McpBroker.Facade.FacadeServer(g.Key, g.First().Purpose, g.First().Tags, g.Count(), [.. g.Select(t => t.Tool.Name)])).ToList();
        Console.WriteLine($"facade definitions: {McpBroker.Measure.ContextCost.Of([.. McpBroker.Facade.FacadeTools.Definitions(McpBroker.Config.ToolNameStyle.Dotted)]).Tokens} o200k tokens with no server named, "
            + $"{McpBroker.Measure.ContextCost.Of([.. McpBroker.Facade.FacadeTools.Definitions(McpBroker.Config.ToolNameStyle.Dotted, servers)]).Tokens} naming the corpus' {servers.Count} servers");
        // The other exposure a client may get (Clients/ClientExposure): every corpus tool listed raw under its namespaced name.
        var raw = SearchEvaluation.LoadTools(dir, "corpus").Select(t => McpBroker.Facade.ProfileContext.Renamed(t.Tool, t.Key)).ToList();
        Console.WriteLine($"raw namespaced definitions of the corpus: {raw.Count} tools, {McpBroker.Measure.ContextCost.Of(raw).Tokens} o200k tokens");
        var unanswerable = SearchTune.LoadUnanswerable(dir);
        var strict = SearchIndex.Build(corpus);
        foreach (var split in new[] { "dev", "test" })
        {
            var set = unanswerable.Where(q => q.Split == split).ToList();
            Console.WriteLine($"unanswerable requests ({split}): {set.Count(q => strict.Search(q.Query, 8).All(h => h.Weak))} of {set.Count} told nothing matches well");
        }

        if (steps)
        {
            Steps(corpus, requests);
        }

        if (misses)
        {
            var dev = SearchEvaluation.Run(corpus, [.. requests.Queries.Where(q => q.Split == "dev")], broker, requests.SystemOf);
            foreach (var o in dev.Outcomes.Where(o => o.Rank != 1))
            {
                Console.WriteLine($"rank {(o.Rank?.ToString() ?? "-"),-2} [{o.Query.Kind}] \"{o.Query.Query}\" wants {string.Join(" | ", o.Query.Relevant)}; got {string.Join(", ", o.Top.Take(3))}");
            }
        }
    }

    /// <summary>Each kept change in turn, on dev and on test: what docs/context-economy.md reports.</summary>
    private static void Steps(IReadOnlyList<SearchDocument> corpus, CorpusQueries requests)
    {
        var before = SearchTuning.Default with
        {
            Fields = [(3.0, 0.5), (1.5, 0.5), (1.2, 0.5), (0.4, 0.75), (1.5, 0.5), (0.6, 0.75)],
            SynonymWeight = 0.5, Coverage = 1.0, NameFit = 1.0, NamedFirst = false, NameSharedBy = 0, MarkWeak = false,
        };
        var named = before with { NameSharedBy = 2, NamedFirst = true, NamedFloor = 0.5 };
        var fitted = SearchTuning.Default with { MarkWeak = false };
        (string, SearchTuning)[] steps =
        [
            ("before", before),
            ("+ system names, named system first", named),
            ("+ constants fitted on dev", fitted),
            ("+ weak matches marked (the final ranking)", SearchTuning.Default),
            ("ablation: no parameter descriptions", SearchTuning.Default with { Fields = [.. SearchTuning.Default.Fields.Select((f, i) => i == 3 ? (0.0, f.B) : f)] }),
            ("ablation: no upstream name, purpose, tags", SearchTuning.Default with { Fields = [.. SearchTuning.Default.Fields.Select((f, i) => i == 4 ? (0.0, f.B) : f)] }),
            ("ablation: no synonyms", SearchTuning.Default with { SynonymWeight = 0 }),
        ];
        Console.WriteLine();
        Console.WriteLine("| step | dev recall@1 | dev recall@5 | dev MRR | dev wrong system | test recall@1 | test recall@5 | test MRR | test wrong system |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (name, tuning) in steps)
        {
            var index = SearchIndex.Build(corpus, tuning);
            Func<string, int, IReadOnlyList<string>> search = (q, l) => [.. index.Search(q, l).Select(h => h.Key)];
            var dev = SearchEvaluation.Run(corpus, [.. requests.Queries.Where(q => q.Split == "dev")], search, requests.SystemOf);
            var test = SearchEvaluation.Run(corpus, [.. requests.Queries.Where(q => q.Split == "test")], search, requests.SystemOf);
            Console.WriteLine($"| {name} | {dev.RecallAt1:0.000} | {dev.RecallAt5:0.000} | {dev.Mrr:0.000} | {dev.WrongSystemFirst:0.000} | {test.RecallAt1:0.000} | {test.RecallAt5:0.000} | {test.Mrr:0.000} | {test.WrongSystemFirst:0.000} |");
        }
    }

    private static void Row(string split, string kind, string ranking, EvalReport r) =>
        Console.WriteLine($"| {split} | {kind} | {ranking} | {r.Queries} | {r.RecallAt1:0.000} | {r.RecallAt5:0.000} | {r.Mrr:0.000} | {(r.WrongSystemFirst is { } w ? $"{w:0.000}" : "")} |");
}
