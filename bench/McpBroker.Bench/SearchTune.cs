using McpBroker.Catalog;

namespace McpBroker.Bench;

/// <summary>
/// Chooses the ranking's constants on the corpus evaluation's dev half only: prints dev metrics of each variant tried,
/// and fits the field weights by coordinate ascent on dev MRR. The test half is not read here.
/// </summary>
internal static class SearchTune
{
    public static void Run(string[] args)
    {
        var dir = SearchEvaluation.DataDir(Program.RepoRoot);
        var corpus = SearchEvaluation.LoadCatalog(dir, "corpus");
        var requests = SearchEvaluation.LoadCorpusQueries(dir);
        var dev = requests.Queries.Where(q => q.Split == "dev").ToList();
        var unanswerable = LoadUnanswerable(dir).Where(q => q.Split == "dev").ToList();
        EvalReport Eval(SearchTuning t, out double silent)
        {
            var index = SearchIndex.Build(corpus, t);
            silent = unanswerable.Count == 0 ? 0 : unanswerable.Average(q => index.Search(q.Query, 8) is var hits && hits.All(h => h.Weak) ? 1.0 : 0.0);
            return SearchEvaluation.Run(corpus, dev, (q, l) => [.. index.Search(q, l).Select(h => h.Key)], requests.SystemOf);
        }

        void Print(string name, SearchTuning t)
        {
            var r = Eval(t, out var silent);
            Console.WriteLine($"| {name} | {r.RecallAt1:0.000} | {r.RecallAt5:0.000} | {r.Mrr:0.000} | {r.WrongSystemFirst:0.000} | {silent:0.00} |");
        }

        Console.WriteLine("| dev variant | recall@1 | recall@5 | MRR | wrong system first | unanswerable: only weak matches |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var baseline = SearchTuning.Default with { NameSharedBy = 0 };
        Print("baseline (upstream's own name only)", baseline);
        foreach (var shared in new[] { 1, 2, 3, 5, int.MaxValue })
        {
            Print($"system names shared by <= {shared}", baseline with { NameSharedBy = shared });
        }

        var named = baseline with { NameSharedBy = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2 };
        foreach (var boost in new[] { 0.5, 1.0, 2.0 })
        {
            Print($"named x{1 + boost}", named with { Named = boost });
            Print($"named x{1 + boost}, named first", named with { Named = boost, NamedFirst = true });
        }

        foreach (var floor in new[] { 0.3, 0.5, 0.7, 0.85 })
        {
            Print($"named first above {floor} of the best", named with { NamedFirst = true, NamedFloor = floor });
        }

        foreach (var shared in new[] { 0, 1, 2, 3, 5 })
        {
            Print($"own name too shared by <= {shared}", named with { OwnNameNames = false, NameSharedBy = shared });
            Print($"own name too shared by <= {shared}, named first above 0.5", named with { OwnNameNames = false, NameSharedBy = shared, NamedFirst = true, NamedFloor = 0.5 });
        }

        Print("upstream words do not cover", named with { UpstreamCovers = false });
        Print("upstream words do not cover, named first", named with { UpstreamCovers = false, NamedFirst = true });
        Print("default", SearchTuning.Default);
        Print("default, weak matches not marked", SearchTuning.Default with { MarkWeak = false });
        foreach (var min in new[] { 0.05, 0.1, 0.15, 0.2, 0.25, 0.3 })
        {
            Print($"default, min relevance {min}", SearchTuning.Default with { MinRelevance = min });
            Print($"min relevance {min}", named with { MinRelevance = min });
            Print($"min relevance {min}, upstream words do not cover", named with { UpstreamCovers = false, MinRelevance = min });
        }

        if (args.Contains("--diff"))
        {
            // Dev requests whose rank differs between the baseline and named-first.
            var a = SearchEvaluation.Run(corpus, dev, Search(named), requests.SystemOf);
            var b = SearchEvaluation.Run(corpus, dev, Search(named with { NamedFirst = true, NamedFloor = args.Length > 1 && double.TryParse(args[1], System.Globalization.CultureInfo.InvariantCulture, out var f) ? f : 0 }), requests.SystemOf);
            foreach (var (x, y) in a.Outcomes.Zip(b.Outcomes).Where(p => p.First.Rank != p.Second.Rank))
            {
                Console.WriteLine($"{x.Rank?.ToString() ?? "-"} -> {y.Rank?.ToString() ?? "-"} \"{x.Query.Query}\": {string.Join(", ", y.Top.Take(3))}");
            }
        }

        Func<string, int, IReadOnlyList<string>> Search(SearchTuning t)
        {
            var index = SearchIndex.Build(corpus, t);
            return (q, l) => [.. index.Search(q, l).Select(h => h.Key)];
        }

        if (args.Contains("--relevance"))
        {
            // How much of the request the first acceptable match answers (dev), against the best match of requests
            // nothing serves: where a floor could part them.
            var index = SearchIndex.Build(corpus, SearchTuning.Default);
            var good = dev.Select(q => index.Search(q.Query, 10).FirstOrDefault(h => q.Relevant.Contains(h.Key))).Where(h => h.Key is not null).Select(h => h.Relevance).Order().ToList();
            var bad = unanswerable.Select(q => index.Search(q.Query, 1).FirstOrDefault().Relevance).Order().ToList();
            Console.WriteLine($"answerable, first acceptable match: {string.Join(" ", new[] { 0.02, 0.05, 0.1, 0.25, 0.5 }.Select(p => $"p{p * 100}={good[(int)(p * good.Count)]:0.00}"))}");
            Console.WriteLine($"unanswerable, best match: {string.Join(" ", bad.Select(b => $"{b:0.00}"))}");
        }

        if (args.Contains("--fit"))
        {
            Fit(named with { NamedFirst = true, NamedFloor = 0.5 }, t => Eval(t, out _).Mrr);
        }
    }

    /// <summary>Coordinate ascent over field weights, K1 and the synonym, coverage and name-fit factors, on dev MRR.</summary>
    private static void Fit(SearchTuning start, Func<SearchTuning, double> objective)
    {
        var best = start;
        var score = objective(best);
        for (var round = 0; round < 2; round++)
        {
            for (var f = 0; f < 6; f++)
            {
                foreach (var factor in new[] { 0.5, 0.75, 1.33, 2.0 })
                {
                    var fields = best.Fields.ToArray();
                    fields[f] = (fields[f].Weight * factor, fields[f].B);
                    Try(best with { Fields = fields });
                }
            }

            foreach (var factor in new[] { 0.5, 0.75, 1.33, 2.0 })
            {
                Try(best with { K1 = best.K1 * factor });
                Try(best with { SynonymWeight = Math.Min(1, best.SynonymWeight * factor) });
                Try(best with { Coverage = best.Coverage * factor });
                Try(best with { NameFit = best.NameFit * factor });
            }

            Console.WriteLine($"round {round}: dev MRR {score:0.000}; fields {string.Join(", ", best.Fields.Select(f => $"({f.Weight:0.###}, {f.B})"))}; K1 {best.K1:0.###}; synonym {best.SynonymWeight:0.###}; coverage {best.Coverage:0.###}; name fit {best.NameFit:0.###}");
        }

        void Try(SearchTuning candidate)
        {
            var s = objective(candidate);
            if (s > score + 0.002)
            {
                (best, score) = (candidate, s);
            }
        }
    }

    /// <summary>Requests none of the corpus' tools serve: search should say nothing matches rather than fill the list.</summary>
    public static IReadOnlyList<EvalQuery> LoadUnanswerable(string dataDir)
    {
        var path = Path.Combine(dataDir, "corpus-unanswerable.json");
        if (!File.Exists(path))
        {
            return [];
        }

        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(path));
        return [.. doc.RootElement.GetProperty("queries").EnumerateArray().Select(q => new EvalQuery(q.GetProperty("query").GetString()!, [], "unanswerable", q.GetProperty("split").GetString()!))];
    }
}
