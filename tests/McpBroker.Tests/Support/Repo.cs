namespace McpBroker.Tests.Support;

/// <summary>Paths of the repository and of the built executables the journey tests run.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release: whatever this test assembly was built as.</summary>
    private static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>
    /// The test project references the CLI, so mcp-broker and mcp-broker-client are built into this folder beside the
    /// tests' own McpBroker.Core.dll: the daemons the journey tests start run the code the coverage run measures.
    /// </summary>
    public static string CliDir => AppContext.BaseDirectory;

    public static string Cli => Path.Combine(CliDir, "mcp-broker");

    public static string Shim => Path.Combine(CliDir, "mcp-broker-client");

    public static string TestUpstream => Path.Combine(Root, "tests", "McpBroker.TestUpstream", "bin", Configuration, "net10.0", "mcp-test-upstream");

    /// <summary>The conformance fixture server (the suite's tools, prompts and resources; either era by its switches).</summary>
    public static string ConformanceServer => Path.Combine(Root, "tests", "McpBroker.ConformanceServer", "bin", Configuration, "net10.0", "mcp-conformance-server");

    public static string UpstreamsDir => Path.Combine(Root, "tests", "upstreams");

    public static string NodeBin(string name) => Path.Combine(UpstreamsDir, "node_modules", ".bin", name);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "McpBroker.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("McpBroker.slnx not found above " + AppContext.BaseDirectory);
    }
}
