using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// What a client and an upstream do directly they can do through the broker: progress notifications arrive complete
/// and in order (checked with the TypeScript SDK, which sees notifications in arrival order), for a stdio and an HTTP
/// upstream, through a raw profile and through the facade's call_tool.
/// </summary>
public sealed class ClientRoutingJourneyTests
{
    private const int Steps = 200;

    [Fact]
    public async Task Progress_FromStdioAndHttpUpstreams_ArrivesCompleteAndInOrder_RawAndThroughCallTool()
    {
        using var http = await LoopbackServer.StartEverythingAsync("streamableHttp");
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false }
              default: { compact_tools_enabled: true }
            upstreams:
              ev: { command: "{{Repo.NodeBin("mcp-server-everything")}}" }
              evh: { transport: http, url: "http://127.0.0.1:{{http.Port}}/mcp" }
            """);
        var args = JsonSerializer.Serialize(new { duration = 0, steps = Steps });

        foreach (var (profile, tool, arguments) in new[]
        {
            ("raw", "ev.trigger-long-running-operation", args),
            ("raw", "evh.trigger-long-running-operation", args),
            ("default", "broker.call_tool", JsonSerializer.Serialize(new { name = "ev.trigger-long-running-operation", arguments = new { duration = 0, steps = Steps } })),
        })
        {
            var run = await env.RunAsync("node", [Path.Combine(Repo.UpstreamsDir, "progress-client.mjs"), Repo.Shim, env.ConfigPath, profile, tool, arguments], stdin: null);

            Assert.True(run.ExitCode == 0, run.Stderr);
            var output = JsonDocument.Parse(run.Stdout).RootElement;
            Assert.False(output.GetProperty("isError").GetBoolean(), output.GetProperty("text").GetString());
            // The upstream's own progress; a slow first start adds the broker's notes before it (no total, below 1: StartProgressTests).
            var relayed = output.GetProperty("progress").EnumerateArray().Where(p => p[1].ValueKind != JsonValueKind.Null).ToList();
            var progress = relayed.Select(p => p[0].GetDouble()).ToList();
            Assert.True(progress.SequenceEqual(Enumerable.Range(1, Steps).Select(i => (double)i)),
                $"{profile} {tool}: {progress.Count} progress notifications: {string.Join(",", progress.TakeLast(5))}");
            Assert.All(relayed, p => Assert.Equal(Steps, p[1].GetInt32()));
        }
    }

    [Fact]
    public async Task ClientCancellation_ReachesTheUpstream_AndTheSharedUpstreamKeepsServing()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => TestUpstreamBehindARawProfile(root));
        var client = await env.ConnectAsync("raw");
        var pid = await BrokerEnvironment.CallTextAsync(client, "t.pid", []);
        using var cancel = new CancellationTokenSource();

        var slow = client.CallToolAsync("t.slow", new Dictionary<string, object?> { ["ms"] = 60_000, ["tag"] = "c" }, cancellationToken: cancel.Token).AsTask();
        await Wait.UntilAsync(() => File.Exists(Path.Combine(env.Root, "started-c")), "the slow call to reach the upstream");
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        await Wait.UntilAsync(() => File.Exists(Path.Combine(env.Root, "cancelled-c")), "notifications/cancelled to reach the upstream");
        Assert.Equal(pid, await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
    }

    [Fact]
    public async Task UpstreamLogMessage_ReachesTheSessionWhoseCallCausedIt_AndNoOther()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => TestUpstreamBehindARawProfile(root));
        var a = await env.ConnectAsync("raw");
        var b = await env.ConnectAsync("raw");
        var logsA = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var logsB = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var _ = a.RegisterNotificationHandler("notifications/message", (n, _) => { logsA.Enqueue(n.Params!["data"]!.ToString()); return ValueTask.CompletedTask; });
        await using var __ = b.RegisterNotificationHandler("notifications/message", (n, _) => { logsB.Enqueue(n.Params!["data"]!.ToString()); return ValueTask.CompletedTask; });
        await BrokerEnvironment.CallTextAsync(b, "t.echo", new() { ["message"] = "b is connected too" });

        Assert.Equal("logged", await BrokerEnvironment.CallTextAsync(a, "t.log", new() { ["message"] = "hello from a's call" }));

        await Wait.UntilAsync(() => logsA.Contains("hello from a's call"), "the upstream's log message to reach session a");
        await BrokerEnvironment.CallTextAsync(b, "t.echo", new() { ["message"] = "anything for b?" });
        Assert.Empty(logsB);
    }

    [Fact]
    public async Task SamplingFromAnUpstream_GoesToTheCallingSession_OrIsRefusedSayingWhy()
    {
        // Server-to-client requests as the session era has them (the test upstream made to speak 2025-11-25): a refusal
        // is the answer to the upstream's request, which the upstream reads and reports in its own result.
        await using var env = await BrokerEnvironment.CreateAsync(root => TestUpstreamBehindARawProfile(root, "--session-revision", "2025-11-25"));
#pragma warning disable MCP9005 // sampling is deprecated from protocol 2026-07-28; the broker must still relay it
        McpClientHandlers Sampler(string who) => new()
        {
            SamplingHandler = (request, _, _) => ValueTask.FromResult(new CreateMessageResult
            {
                Model = "test-model",
                Role = Role.Assistant,
                Content = [new TextContentBlock { Text = $"{who} answers {((TextContentBlock)request!.Messages[0].Content[0]).Text}" }],
            }),
        };
#pragma warning restore MCP9005
        var a = await env.ConnectAsync("raw", handlers: Sampler("a"));
        var b = await env.ConnectAsync("raw", handlers: Sampler("b"));
        var plain = await env.ConnectAsync("raw");

        // The session whose call is in flight answers, whichever sessions share the upstream.
        Assert.Equal("sampled: b answers hi", await BrokerEnvironment.CallTextAsync(b, "t.sample", new() { ["message"] = "hi" }));
        Assert.Equal("sampled: a answers ho", await BrokerEnvironment.CallTextAsync(a, "t.sample", new() { ["message"] = "ho" }));

        // A session that cannot sample is not asked.
        Assert.Contains("cannot forward sampling/createMessage: the client session (xunit) did not declare the sampling capability",
            await BrokerEnvironment.CallTextAsync(plain, "t.sample", new() { ["message"] = "hi" }));

        // With calls of two sessions in flight the broker cannot tell which should answer: neither is asked.
        using var cancel = new CancellationTokenSource();
        var slow = a.CallToolAsync("t.slow", new Dictionary<string, object?> { ["ms"] = 60_000, ["tag"] = "s" }, cancellationToken: cancel.Token).AsTask();
        await Wait.UntilAsync(() => File.Exists(Path.Combine(env.Root, "started-s")), "a's slow call to reach the upstream");
        Assert.Contains("requests of 2 client sessions are in flight on upstream 't'", await BrokerEnvironment.CallTextAsync(b, "t.sample", new() { ["message"] = "hi" }));

        // With no call in flight nobody owns the request (the call that scheduled it has been answered).
        Assert.Equal("scheduled", await BrokerEnvironment.CallTextAsync(b, "t.sample_after", new() { ["tag"] = "later" }));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        await Wait.UntilAsync(async () => (await BrokerEnvironment.UpstreamStatusAsync(b)).Single().GetProperty("in_flight").GetInt32() == 0, "a's cancelled call to end in the daemon");
        await File.WriteAllTextAsync(Path.Combine(env.Root, "go-later"), "go");
        await Wait.UntilAsync(() => File.Exists(Path.Combine(env.Root, "sampled-later")), "the upstream's late sampling request to be answered");
        Assert.Contains("no client session has a request in flight on upstream 't'", await File.ReadAllTextAsync(Path.Combine(env.Root, "sampled-later")));
    }

    [Fact]
    public async Task SamplingFromAStatelessUpstream_ReachesTheCallingSession_OrFailsTheCallSayingWhy()
    {
        // The test upstream as it is (C# SDK 2.4): it speaks 2026-07-28 to the broker, where a server asks for sampling
        // inside its answer to the call (multi round-trip requests) and the broker's SDK client asks the session.
        await using var env = await BrokerEnvironment.CreateAsync(root => TestUpstreamBehindARawProfile(root));
#pragma warning disable MCP9005 // sampling is deprecated from protocol 2026-07-28; the broker must still relay it
        var sampler = await env.ConnectAsync("raw", handlers: new()
        {
            SamplingHandler = (request, _, _) => ValueTask.FromResult(new CreateMessageResult
            {
                Model = "test-model",
                Role = Role.Assistant,
                Content = [new TextContentBlock { Text = $"s answers {((TextContentBlock)request!.Messages[0].Content[0]).Text}" }],
            }),
        });
#pragma warning restore MCP9005
        var plain = await env.ConnectAsync("raw");

        Assert.Equal("sampled: s answers hi", await BrokerEnvironment.CallTextAsync(sampler, "t.sample", new() { ["message"] = "hi" }));
        var refused = BrokerEnvironment.ErrorOf(await plain.CallToolAsync("t.sample", new Dictionary<string, object?> { ["message"] = "hi" }));
        Assert.Contains("cannot forward sampling/createMessage: the client session (xunit) did not declare the sampling capability", refused.GetProperty("message").GetString());
        var status = JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement;
        Assert.Equal("2026-07-28", status.GetProperty("upstreams")[0].GetProperty("protocol").GetString());
    }

    /// <summary>The in-repo test upstream (marking started and cancelled calls under the root, and <paramref name="args"/>) behind a raw profile.</summary>
    private static string TestUpstreamBehindARawProfile(string root, params string[] args) => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        profiles:
          raw: { compact_tools_enabled: false }
        upstreams:
          t: { command: "{{Repo.TestUpstream}}", args: [--marker-dir, "{{root}}"{{string.Concat(args.Select(a => $", \"{a}\""))}}] }
        """;
}
