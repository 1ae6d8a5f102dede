namespace McpBroker.Tests.Support;

/// <summary>
/// Byte comparison against files in tests/McpBroker.Tests/Golden. Set MCP_BROKER_UPDATE_GOLDEN=1 to rewrite them
/// (then review the diff like any other change).
/// </summary>
internal static class Golden
{
    public static void AssertMatches(string name, string actual)
    {
        var path = Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", name);
        if (Environment.GetEnvironmentVariable("MCP_BROKER_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.True(File.Exists(path), $"golden file {path} is missing; run the tests once with MCP_BROKER_UPDATE_GOLDEN=1");
        Assert.Equal(File.ReadAllText(path), actual);
    }

    /// <summary>Byte for byte: for files whose byte-order mark and line endings are the point.</summary>
    public static void AssertMatchesBytes(string name, byte[] actual)
    {
        var path = Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", name);
        if (Environment.GetEnvironmentVariable("MCP_BROKER_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllBytes(path, actual);
        }

        Assert.True(File.Exists(path), $"golden file {path} is missing; run the tests once with MCP_BROKER_UPDATE_GOLDEN=1");
        Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(actual), $"{name} differs from the render:\n{System.Text.Encoding.UTF8.GetString(actual)}");
    }
}
