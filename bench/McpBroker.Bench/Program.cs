using BenchmarkDotNet.Running;
using McpBroker.Bench;

// dotnet run -c Release --project bench/McpBroker.Bench -- search-eval    recall@1/@5 and MRR, broker vs plain BM25
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
        SearchEvalReport.Print(args.Contains("--misses"));
        return 0;
    case "search" when args.Length >= 2:
        // search "QUERY" [SERVER...]: the top 8 over the captured catalog (or only the named servers).
        var catalog = SearchEvaluation.LoadCatalog(SearchEvaluation.DataDir(Program.RepoRoot))
            .Where(d => args.Length == 2 || args[2..].Contains(d.Key.Split('.')[0])).ToList();
        foreach (var hit in McpBroker.Catalog.SearchIndex.Build(catalog).Search(args[1], 8))
        {
            Console.WriteLine($"{hit.Score,8:0.000}  {hit.Key}");
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
