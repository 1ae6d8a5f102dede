using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Facade;

/// <summary>
/// A request that waits on upstreams that start slowly tells a client that gave a progressToken which upstreams and for
/// how long (Facade/StartProgress.cs), with a real client (the TypeScript SDK) and a test upstream that takes seconds to
/// start, as an npx download does.
/// </summary>
public sealed class StartProgressJourneyTests
{
    [Fact]
    public async Task FirstSearch_AndCallToAColdUpstream_WithProgressToken_NameTheStartingUpstreamWithElapsedTime()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              search: { compact_tools_enabled: true, upstreams: [slowsearch] }
              call: { compact_tools_enabled: true, upstreams: [slowcall] }
            upstreams:
              slowsearch: { command: "{{Repo.TestUpstream}}", args: [--start-delay, "3000"] }
              slowcall: { command: "{{Repo.TestUpstream}}", args: [--start-delay, "3000"] }
            """);

        foreach (var (profile, tool, arguments, upstream, answer) in new[]
        {
            ("search", "broker.search_tools", """{"query":"echo a message"}""", "slowsearch", "slowsearch.echo"),
            ("call", "broker.call_tool", """{"name":"slowcall.echo","arguments":{"message":"hi"}}""", "slowcall", "echo: hi"),
        })
        {
            var run = await env.RunAsync("node", [Path.Combine(Repo.UpstreamsDir, "progress-client.mjs"), Repo.Shim, env.ConfigPath, profile, tool, arguments], stdin: null);

            Assert.True(run.ExitCode == 0, run.Stderr);
            var output = JsonDocument.Parse(run.Stdout).RootElement;
            Assert.False(output.GetProperty("isError").GetBoolean(), output.GetProperty("text").GetString());
            Assert.Contains(answer, output.GetProperty("text").GetString());

            // Three seconds of start: a note at least at 1 s and 2 s, each naming the upstream and the time so far,
            // with values that increase and stay below 1 (where an upstream's own progress starts).
            var notes = output.GetProperty("progress").EnumerateArray().ToList();
            Assert.True(notes.Count >= 2, $"{tool}: {notes.Count} progress notification(s) in a 3 s start: {run.Stdout}");
            Assert.All(notes, n =>
            {
                Assert.Equal(JsonValueKind.Null, n[1].ValueKind);
                Assert.Matches($@"^starting {upstream}: \d+ s$", n[2].GetString());
            });
            var values = notes.Select(n => n[0].GetDouble()).ToList();
            Assert.Equal(0.5, values[0]);
            Assert.True(values.Zip(values.Skip(1)).All(p => p.First < p.Second) && values[^1] < 1, string.Join(", ", values));
            var seconds = notes.Select(n => int.Parse(n[2].GetString()!.Split(' ')[^2])).ToList();
            Assert.True(seconds[0] >= 1 && seconds.Zip(seconds.Skip(1)).All(p => p.First <= p.Second), string.Join(", ", seconds));
        }

        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    [Fact]
    public async Task CallToAColdUpstreamThatReportsProgressFromZero_ClientSeesOnlyIncreasingValues()
    {
        // The broker's start notes (0.5, 0.75, …) come first on the client's token; the fixture's own progress then
        // starts at 0 (0, 50, 100). The client must still see increasing values (MCP "Progress"), with the upstream's
        // 50 and 100 among them.
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              call: { compact_tools_enabled: true, upstreams: [fixture], allow_mutating_upstreams: [fixture] }
            upstreams:
              fixture: { command: "{{Repo.ConformanceServer}}", args: [--start-delay, "2500"] }
            """);

        var run = await env.RunAsync("node", [Path.Combine(Repo.UpstreamsDir, "progress-client.mjs"), Repo.Shim, env.ConfigPath, "call", "broker.call_tool",
            """{"name":"fixture.test_tool_with_progress","arguments":{}}"""], stdin: null);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var output = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.False(output.GetProperty("isError").GetBoolean(), output.GetProperty("text").GetString());
        var values = output.GetProperty("progress").EnumerateArray().Select(n => n[0].GetDouble()).ToList();
        Assert.True(values.Count >= 3 && values[0] == 0.5, string.Join(", ", values));
        Assert.True(values.Zip(values.Skip(1)).All(p => p.First < p.Second), string.Join(", ", values));
        Assert.Equal([50.0, 100.0], values.Where(v => v >= 1));

        await env.StopDaemonAndAssertNothingLeftAsync();
    }
}
