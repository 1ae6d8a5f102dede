using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Shim;

/// <summary>The broker as a real third-party client sees it: the official TypeScript SDK, through the shim.</summary>
public sealed class TypeScriptClientJourneyTests
{
    [Fact]
    public async Task TypeScriptSdkClient_ThroughTheShim_ListsTheFacadeAndSearches()
    {
        await using var env = await BrokerEnvironment.CreateAsync();

        var run = await env.RunAsync("node", [Path.Combine(Repo.UpstreamsDir, "ts-client.mjs"), Repo.Shim, env.ConfigPath, "default", "remember that Alice likes tea"], stdin: null);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var output = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal("mcp-broker", output.GetProperty("server").GetProperty("name").GetString());
        Assert.Equal(["broker.search_tools", "broker.describe_tool", "broker.call_tool", "broker.status"], output.GetProperty("tools").EnumerateArray().Select(t => t.GetString()));
        Assert.Contains("memory.create_entities", output.GetProperty("matches").EnumerateArray().Take(3).Select(m => m.GetString()));
        Assert.Equal(3, output.GetProperty("status").GetProperty("upstreams").GetArrayLength());
    }
}
