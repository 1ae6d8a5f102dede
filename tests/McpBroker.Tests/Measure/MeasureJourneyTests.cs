using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Measure;

/// <summary>mcp-broker measure and the compact search results, against the real npm servers.</summary>
public sealed class MeasureJourneyTests
{
    [Fact]
    public async Task Measure_CompactProfile_CountsRawBeforeAndFacadeAfter_AsJson()
    {
        await using var env = await BrokerEnvironment.CreateAsync();

        var compact = await env.RunCliAsync("measure", "--config", env.ConfigPath, "--json");
        var readOnly = await env.RunCliAsync("measure", "--config", env.ConfigPath, "--profile", "readonly", "--json");
        env.RememberProcesses();

        Assert.True(compact.ExitCode == 0, compact.Stderr);
        var result = JsonDocument.Parse(compact.Stdout).RootElement;
        Assert.Equal("default", result.GetProperty("profile").GetString());
        Assert.Equal(4, result.GetProperty("after").GetProperty("tools").GetInt32());
        var before = result.GetProperty("before");
        Assert.True(before.GetProperty("tools").GetInt32() > 30, compact.Stdout);
        Assert.True(before.GetProperty("tokens").GetInt32() > before.GetProperty("bytes").GetInt32() / 10, compact.Stdout);
        Assert.True(result.GetProperty("reduction_pct").GetProperty("tokens").GetDouble() > 80, compact.Stdout);
        Assert.Equal(
            Math.Round(100.0 * (before.GetProperty("bytes").GetInt32() - result.GetProperty("after").GetProperty("bytes").GetInt32()) / before.GetProperty("bytes").GetInt32(), 1),
            result.GetProperty("reduction_pct").GetProperty("bytes").GetDouble());

        // Both exposures per client (the clients whose own tool search differs, when the config names none): the facade as
        // "after" counts it, the raw tools as "before" does, and what 'client apply' gives each.
        var clients = result.GetProperty("clients").EnumerateArray().ToDictionary(c => c.GetProperty("client").GetString()!);
        Assert.Equal(["claude", "codex", "copilot", "gemini", "cursor"], clients.Keys);
        Assert.All(clients.Values, c =>
        {
            Assert.Equal(result.GetProperty("after").GetProperty("tokens").GetInt32(), c.GetProperty("facade").GetProperty("tokens").GetInt32());
            Assert.Equal(before.GetProperty("tokens").GetInt32(), c.GetProperty("raw").GetProperty("tokens").GetInt32());
            Assert.Equal("facade", c.GetProperty("exposure").GetString());
        });
        Assert.Equal("alwaysLoad: true", clients["claude"].GetProperty("keep_loaded_setting").GetString());
        Assert.Equal(JsonValueKind.Null, clients["gemini"].GetProperty("defers_mcp_tools").ValueKind);

        // The read-only profile's "before" lacks the mutating tools it may not see.
        Assert.True(readOnly.ExitCode == 0, readOnly.Stderr);
        Assert.True(JsonDocument.Parse(readOnly.Stdout).RootElement.GetProperty("before").GetProperty("tools").GetInt32() < before.GetProperty("tools").GetInt32());

        var unknown = await env.RunCliAsync("measure", "--config", env.ConfigPath, "--profile", "nope");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no profile named 'nope'", unknown.Stderr);
    }

    [Fact]
    public async Task Search_Detail_AddsInputSchemasOfTheTopThreeOnly()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();

        var plain = await BrokerEnvironment.CallJsonAsync(client, "broker.search_tools", new() { ["query"] = "read a file", ["limit"] = 5 });
        var detailed = await BrokerEnvironment.CallJsonAsync(client, "broker.search_tools", new() { ["query"] = "read a file", ["limit"] = 5, ["detail"] = true });

        Assert.All(plain.GetProperty("matches").EnumerateArray(), m => Assert.False(m.TryGetProperty("inputSchema", out _)));
        var matches = detailed.GetProperty("matches").EnumerateArray().ToList();
        Assert.Equal(5, matches.Count);
        Assert.All(matches.Take(3), m => Assert.Equal("object", m.GetProperty("inputSchema").GetProperty("type").GetString()));
        Assert.All(matches.Skip(3), m => Assert.False(m.TryGetProperty("inputSchema", out _)));
        var bad = await client.CallToolAsync("broker.search_tools", new Dictionary<string, object?> { ["query"] = "x", ["detail"] = "yes" });
        Assert.True(bad.IsError);
    }
}
