using BenchmarkDotNet.Running;
using McpBroker.Bench;

// dotnet run -c Release --project bench/McpBroker.Bench -- search-eval [--steps] [--misses]   dev and test halves, broker vs plain BM25
// dotnet run -c Release --project bench/McpBroker.Bench -- search-tune [SHARED] [--fit]   variants and fitted weights, dev half only
// dotnet run -c Release --project bench/McpBroker.Bench -- search-speed   BenchmarkDotNet: search latency, re-indexing
// dotnet run -c Release --project bench/McpBroker.Bench -- call-recording BenchmarkDotNet: the status/metrics bookkeeping per call
// dotnet run -c Release --project bench/McpBroker.Bench -- secret-masking BenchmarkDotNet: the masking step on the way out
// dotnet run -c Release --project bench/McpBroker.Bench -- search "QUERY" [SERVER...]   one query's top 8
// dotnet run -c Release --project bench/McpBroker.Bench -- broker [--pub DIR] [--only abcdef] [--json OUT] [--baseline FILE]
//                                                          end to end, side by side with direct (docs/benchmarks.md)
switch (args.FirstOrDefault())
{
    case "broker":
        return await BrokerBench.RunAsync(args[1..]);
    case "search-eval":
        SearchEvalReport.Print(args.Contains("--misses"), args.Contains("--steps"));
        return 0;
    case "search-tune":
        SearchTune.Run(args[1..]);
        return 0;
    case "search" when args.Length >= 2:
        // search "QUERY" [SERVER...] [--corpus]: the top 8 over the captured catalog (or only the named servers).
        // search "QUERY" --corpus: over the compatibility corpus' tools instead.
        var corpusTools = args.Contains("--corpus");
        var servers = args[2..].Where(a => a != "--corpus").ToArray();
        var catalog = SearchEvaluation.LoadCatalog(SearchEvaluation.DataDir(Program.RepoRoot), corpusTools ? "corpus" : "catalog")
            .Where(d => servers.Length == 0 || servers.Contains(d.Key.Split('.')[0])).ToList();
        foreach (var hit in McpBroker.Catalog.SearchIndex.Build(catalog).Search(args[1], 8))
        {
            Console.WriteLine($"{hit.Score,8:0.000}  {hit.Key}{(hit.Named ? " (named)" : "")}  matched: {string.Join(' ', hit.Matched)}");
        }

        return 0;
    case "search-time":
        // search-time [TOOLS...]: p50/p95 of the search-speed queries in-process, without BenchmarkDotNet (quick check).
        foreach (var n in args.Length > 1 ? args[1..].Select(int.Parse) : [1_000, 5_000, 20_000])
        {
            SearchTiming.Run(n);
        }

        return 0;
    case "search-speed":
        BenchmarkRunner.Run<SearchSpeed>(args: args[1..]);
        return 0;
    case "call-recording":
        BenchmarkRunner.Run<CallRecording>(args: args[1..]);
        return 0;
    case "secret-masking":
        BenchmarkRunner.Run<SecretMasking>(args: args[1..]);
        return 0;
    default:
        Console.Error.WriteLine("usage: McpBroker.Bench broker [--pub DIR] [--json OUT] [--baseline FILE] | search-eval [--misses] | search-speed | call-recording | secret-masking [BenchmarkDotNet options]");
        return 2;
}

internal static partial class Program
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot() =>
        Up(AppContext.BaseDirectory) ?? Up(Environment.CurrentDirectory) ?? throw new InvalidOperationException("run from inside the repository");

    private static string? Up(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "McpBroker.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName;
    }
}
