using BenchmarkDotNet.Running;
using McpBroker.Bench;

// dotnet run -c Release --project bench/McpBroker.Bench -- search-eval    recall@1/@5 and MRR, broker vs plain BM25
// dotnet run -c Release --project bench/McpBroker.Bench -- search-speed   BenchmarkDotNet: search latency, re-indexing
switch (args.FirstOrDefault())
{
    case "search-eval":
        SearchEvalReport.Print(args.Contains("--misses"));
        return 0;
    case "search-speed":
        BenchmarkRunner.Run<SearchSpeed>(args: args[1..]);
        return 0;
    default:
        Console.Error.WriteLine("usage: McpBroker.Bench search-eval [--misses] | search-speed [BenchmarkDotNet options]");
        return 2;
}

internal static partial class Program
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "McpBroker.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("run from inside the repository");
    }
}
