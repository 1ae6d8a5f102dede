using McpBroker.Tests.Support;
using ModelContextProtocol.Client;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// A call the broker gives up on — here its client cancelled it; a fired call timeout takes the same path and is tested
/// in-process on a fake clock (UpstreamSupervisorTests) — is cancelled at the upstream the way the upstream's protocol
/// revision and transport say: <c>notifications/cancelled</c> with the upstream's own request id for a session-era server
/// over Streamable HTTP (dropping the POST is no cancellation there) and over stdio (once), a closed response stream and
/// no notification for a 2026-07-28 server over HTTP. The servers are real: the tests' own HTTP server (which records
/// what was posted to it) and the test upstream over stdio (which records what it received).
/// </summary>
public sealed class UpstreamCancellationJourneyTests
{
    private static Func<string, string> Config(string upstreams) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 30s }
        profiles:
          raw: { compact_tools_enabled: false, max_tools: 500 }
        upstreams:
        {{upstreams}}
        """;

    [Fact]
    public async Task SessionEraHttpUpstream_ClientCancelsTheCall_UpstreamIsToldWithItsRequestId()
    {
        await using var server = await TestHttpServer.StartAsync(sessionRevision: "2025-11-25");
        await using var env = await BrokerEnvironment.CreateAsync(Config($"  web: {{ transport: http, url: \"{server.McpUrl}\" }}\n"));
        var client = await env.ConnectAsync("raw");

        await CancelSlowCallAsync(client, "web.slow", () => server.Counters.SlowStarted > 0);

        await Wait.UntilAsync(() => !server.Cancelled.IsEmpty, "notifications/cancelled at the upstream");
        await Wait.UntilAsync(async () => await InFlightAsync(client, "web") == 0, "the broker to finish the cancelled call");
        Assert.Equal([Assert.Single(server.SlowCalls)], server.Cancelled);
        await Wait.UntilAsync(() => server.Counters.SlowCancelled > 0, "the upstream's tool to see its cancellation");
        Assert.Equal("2025-11-25", await ProtocolAsync(client, "web"));
    }

    [Fact]
    public async Task StatelessHttpUpstream_ClientCancelsTheCall_StreamClosedAndNoNotificationSent()
    {
        await using var server = await TestHttpServer.StartAsync(statelessOnly: true);
        await using var env = await BrokerEnvironment.CreateAsync(Config($"  web: {{ transport: http, url: \"{server.McpUrl}\" }}\n"));
        var client = await env.ConnectAsync("raw");

        await CancelSlowCallAsync(client, "web.slow", () => server.Counters.SlowStarted > 0);

        // 2026-07-28 basic/patterns/cancellation: over Streamable HTTP closing the request's stream is the cancellation,
        // and no notifications/cancelled is expected.
        await Wait.UntilAsync(() => server.Counters.SlowCancelled > 0, "the upstream's tool to see its stream closed");
        await Wait.UntilAsync(async () => await InFlightAsync(client, "web") == 0, "the broker to finish the cancelled call");
        Assert.Empty(server.Cancelled);
        Assert.Equal("2026-07-28", await ProtocolAsync(client, "web"));
    }

    [Theory]
    [InlineData("2025-11-25")]
    [InlineData("2026-07-28")]
    public async Task StdioUpstream_ClientCancelsTheCall_UpstreamIsToldExactlyOnce(string revision)
    {
        var markers = Directory.CreateTempSubdirectory("mb-markers-").FullName;
        string[] era = revision == "2026-07-28" ? ["--stateless-only"] : ["--session-revision", revision];
        await using var env = await BrokerEnvironment.CreateAsync(Config(
            $"  t: {{ command: \"{Repo.TestUpstream}\", args: [{string.Join(", ", era.Append("--marker-dir").Append(markers).Select(a => $"\"{a}\""))}] }}\n"));
        var client = await env.ConnectAsync("raw");

        await CancelSlowCallAsync(client, "t.slow", () => File.Exists(Path.Combine(markers, "started-x")));
        await Wait.UntilAsync(() => File.Exists(Path.Combine(markers, "cancelled-x")), "the upstream's call to be cancelled");

        // Once the broker has finished the call, an answer on the same pipe comes after anything it sent before.
        await Wait.UntilAsync(async () => await InFlightAsync(client, "t") == 0, "the broker to finish the cancelled call");
        Assert.Equal("echo: after", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "after" }));
        var received = Directory.GetFiles(markers, "notifications-cancelled-*").SelectMany(File.ReadAllLines);
        Assert.Equal([await File.ReadAllTextAsync(Path.Combine(markers, "started-x"))], received);
        Assert.Equal(revision, await ProtocolAsync(client, "t"));
    }

    /// <summary>Starts a call of a tool that takes ten minutes, waits until it reached the upstream, and cancels it.</summary>
    private static async Task CancelSlowCallAsync(McpClient client, string tool, Func<bool> started)
    {
        using var cancel = new CancellationTokenSource();
        var slow = client.CallToolAsync(tool, new Dictionary<string, object?> { ["ms"] = 600_000, ["tag"] = "x" }, cancellationToken: cancel.Token).AsTask();
        await Wait.UntilAsync(() => started() || slow.IsCompleted, $"{tool} to reach the upstream");
        Assert.False(slow.IsCompleted, $"{tool} ended before it was cancelled: {(slow.IsCompletedSuccessfully ? "" : slow.Exception?.Message)}");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
    }

    private static async Task<int> InFlightAsync(McpClient client, string upstream) =>
        (await BrokerEnvironment.UpstreamStatusAsync(client)).Single(u => u.GetProperty("name").GetString() == upstream).GetProperty("in_flight").GetInt32();

    private static async Task<string?> ProtocolAsync(McpClient client, string upstream) =>
        (await BrokerEnvironment.UpstreamStatusAsync(client)).Single(u => u.GetProperty("name").GetString() == upstream).GetProperty("protocol").GetString();
}
