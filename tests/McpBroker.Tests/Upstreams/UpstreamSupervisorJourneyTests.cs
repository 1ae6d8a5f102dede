using System.Diagnostics;
using System.Text.Json;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// Modes, crashes, backoff, concurrency and reaping, against the in-repo test upstream (timeouts: UpstreamSupervisorTests,
/// in-process on a clock the test moves).
/// </summary>
public sealed class UpstreamSupervisorJourneyTests
{
    private static Func<string, string> Config(string upstreams) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 30s }
        profiles:
          default: { compact_tools_enabled: false, allow_mutating_upstreams: ["*"] }
        upstreams:
        {{upstreams.Replace("TEST_UPSTREAM", Repo.TestUpstream, StringComparison.Ordinal).Replace("ROOT", root, StringComparison.Ordinal)}}
        """;

    [Fact]
    public async Task PerSession_EachSessionGetsItsOwnProcess_StoppedWhenTheSessionEnds()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, mode: per_session }"));
        var a = await env.ConnectAsync();
        var b = await env.ConnectAsync();

        var pidA = int.Parse(await Text(a, "t.pid"));
        var pidB = int.Parse(await Text(b, "t.pid"));
        Assert.NotEqual(pidA, pidB);
        Assert.Equal(pidA, int.Parse(await Text(a, "t.pid")));

        await a.DisposeAsync();
        await Wait.UntilAsync(() => !Processes.Alive(pidA), "session A's upstream to stop after its shim disconnected", TimeSpan.FromSeconds(20));
        Assert.True(Processes.Alive(pidB));
        Assert.Equal(pidB, int.Parse(await Text(b, "t.pid")));
    }

    [Fact]
    public async Task PerCall_EveryCallRunsInAFreshProcessThatIsGoneAfterwards()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, mode: per_call }"));
        var client = await env.ConnectAsync();

        var first = int.Parse(await Text(client, "t.pid"));
        var second = int.Parse(await Text(client, "t.pid"));

        Assert.NotEqual(first, second);
        await Wait.UntilAsync(() => !Processes.Alive(first) && !Processes.Alive(second), "per-call processes to stop");
    }

    [Fact]
    public async Task Disabled_IsNeitherListedNorStarted()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM }\n  off: { command: TEST_UPSTREAM, mode: disabled }"));
        var client = await env.ConnectAsync();

        var tools = await client.ListToolsAsync();

        Assert.Contains(tools, t => t.Name == "t.echo");
        Assert.DoesNotContain(tools, t => t.Name.StartsWith("off.", StringComparison.Ordinal));
        var status = await Status(client);
        Assert.Equal(["t"], status.Select(u => u.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Crash_FailsEveryRequestInFlightWithItsStderr_AndTheNextRequestRestarts()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM }"));
        var client = await env.ConnectAsync();
        var pid = int.Parse(await Text(client, "t.pid"));

        var slow = client.CallToolAsync("t.slow", new Dictionary<string, object?> { ["ms"] = 60_000 }).AsTask();
        var crash = await client.CallToolAsync("t.crash", new Dictionary<string, object?> { ["code"] = 7 });
        var inFlight = await slow;

        foreach (var result in new[] { crash, inFlight })
        {
            var error = Error(result);
            Assert.Equal("upstream_crashed", error.GetProperty("code").GetString());
            Assert.Contains("exited with code 7", error.GetProperty("message").GetString());
            Assert.Contains("crashing as asked", error.GetProperty("message").GetString());
        }

        var newPid = int.Parse(await Text(client, "t.pid"));
        Assert.NotEqual(pid, newPid);
        var state = (await Status(client)).Single();
        Assert.Equal(1, state.GetProperty("restarts").GetInt32());
        Assert.Equal("running", state.GetProperty("state").GetString());
    }

    [Fact]
    public async Task RepeatedStartFailures_BackOffThenOpenTheCircuit_UntilUpstreamRestart()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config(
            "  t:\n    command: TEST_UPSTREAM\n    args: [--exit-at-start, \"4\", --stderr, \"cannot open database\"]\n    restart: { max_attempts: 2, backoff: 1s, cooldown: 1h }"));
        var client = await env.ConnectAsync();
        var echo = new Dictionary<string, object?> { ["message"] = "x" };

        var first = Error(await client.CallToolAsync("t.echo", echo));
        var second = Error(await client.CallToolAsync("t.echo", echo));
        var third = Error(await client.CallToolAsync("t.echo", echo));

        Assert.All(new[] { first, second, third }, e => Assert.Equal("upstream_unavailable", e.GetProperty("code").GetString()));
        Assert.Contains("cannot open database", first.GetProperty("message").GetString());
        Assert.Contains("failed 2 times in a row and is paused", third.GetProperty("message").GetString());
        Assert.Contains("mcp-broker upstream restart t", third.GetProperty("hint").GetString());
        var state = (await Status(client)).Single();
        Assert.Equal("circuit_open", state.GetProperty("state").GetString());
        Assert.Equal(2, state.GetProperty("failures").GetInt32());
        Assert.NotEqual(JsonValueKind.Null, state.GetProperty("retry_at").ValueKind);
        Assert.Contains("exited with code 4", state.GetProperty("last_error").GetString());

        var restart = await env.RunCliAsync("upstream", "restart", "t", "--config", env.ConfigPath);
        Assert.Equal(0, restart.ExitCode);
        Assert.Equal("stopped", (await Status(client)).Single().GetProperty("state").GetString());
        var afterRestart = Error(await client.CallToolAsync("t.echo", echo));
        Assert.Contains("could not start", afterRestart.GetProperty("message").GetString());

        var unknown = await env.RunCliAsync("upstream", "restart", "nope", "--config", env.ConfigPath);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no enabled upstream named 'nope'", unknown.Stderr);
    }

    [Fact]
    public async Task MaxConcurrency_WithAFullQueue_RefusesWithUpstreamBusy()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, serialize_calls: true, max_queue: 0 }"));
        var client = await env.ConnectAsync();
        await Text(client, "t.pid");

        var first = client.CallToolAsync("t.slow", new Dictionary<string, object?> { ["ms"] = 3000 }).AsTask();
        await Wait.UntilAsync(() => InFlight(client) == 1, "the first call to hold the only slot");
        var second = await client.CallToolAsync("t.echo", new Dictionary<string, object?> { ["message"] = "x" });

        Assert.Equal("upstream_busy", Error(second).GetProperty("code").GetString());
        Assert.NotEqual(true, (await first).IsError);
    }

    [Fact]
    public async Task NoisyServers_GarbageOnStdoutAndAFloodOfStderr_StillServe()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, args: [--garbage-stdout, --flood-stderr, \"5000\"] }"));
        var client = await env.ConnectAsync();

        Assert.Equal("echo: fine", await Text(client, "t.echo", new() { ["message"] = "fine" }));
    }

    [Fact]
    public async Task DaemonKilled_ItsUpstreamsAreReapedByDaemonReapAndByTheNextDaemon()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config(
            "  t: { command: TEST_UPSTREAM, args: [--linger, --spawn-child] }\n  u: { command: TEST_UPSTREAM, args: [--linger] }"));
        var client = await env.ConnectAsync();
        var orphan = int.Parse(await Text(client, "t.pid"));
        var grandchild = int.Parse(await Text(client, "t.child_pid"));
        var daemon = env.DaemonPid!.Value;

        Assert.Equal(0, Processes.Kill(daemon, 9));
        await Wait.UntilAsync(() => !Processes.Alive(daemon), "the killed daemon to die");
        Assert.True(Processes.Alive(orphan), "a SIGKILLed daemon cannot stop its upstreams itself");

        var doctor = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Equal(1, doctor.ExitCode);
        Assert.Contains($"upstream t: pid {orphan} was started by daemon {daemon}, which is gone; the process still runs", doctor.Stdout);
        Assert.Contains("mcp-broker daemon reap", doctor.Stdout);
        Assert.Contains("stale socket", doctor.Stdout);

        var reap = await env.RunCliAsync("daemon", "reap", "--config", env.ConfigPath);
        Assert.Equal(0, reap.ExitCode);
        Assert.Contains($"t: pid {orphan}", reap.Stdout);
        Assert.Contains($"left by dead daemon {daemon}", reap.Stdout);
        Assert.False(Processes.Alive(orphan));
        Assert.False(Processes.Alive(grandchild), "the whole process group is stopped, not just its leader");

        var second = await env.ConnectAsync();
        var orphan2 = int.Parse(await Text(second, "u.pid"));
        var daemon2 = env.DaemonPid!.Value;
        Assert.Equal(0, Processes.Kill(daemon2, 9));
        await Wait.UntilAsync(() => !Processes.Alive(daemon2), "the second killed daemon to die");

        var third = await env.ConnectAsync();
        Assert.False(Processes.Alive(orphan2), "starting a daemon reaps what the dead one left");
        Assert.Contains("echo: back", await Text(third, "u.echo", new() { ["message"] = "back" }));
        var nothing = await env.RunCliAsync("daemon", "reap", "--config", env.ConfigPath);
        Assert.Contains("nothing to reap", nothing.Stdout);
    }

    // A time limit, because the failure this test guards against is a hang (see docs/architecture.md, "the reconnect
    // that lost a message"): a hang must fail the run, not stall CI.
    [Theory(Timeout = 180_000)]
    [InlineData("2025-11-25")]   // initialize + initialized are replayed to the new daemon
    [InlineData(null)]           // 2026-07-28: no initialize; every request carries its own metadata
    public async Task DaemonKilledMidSession_ShimReconnects_InFlightRequestsFailAndTheSessionGoesOn(string? protocolVersion)
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, args: [--linger], mode: per_session }"));
        var client = await env.ConnectAsync(protocolVersion: protocolVersion);
        var before = int.Parse(await Text(client, "t.pid"));
        var daemon = env.DaemonPid!.Value;
        var slow = client.CallToolAsync("t.slow", new Dictionary<string, object?> { ["ms"] = 60_000 }).AsTask();
        await Wait.UntilAsync(() => InFlight(client) == 1, "the slow call to reach the upstream");

        Assert.Equal(0, Processes.Kill(daemon, 9));

        var failed = await Assert.ThrowsAnyAsync<ModelContextProtocol.McpException>(() => slow);
        Assert.Contains("daemon stopped while this request was in flight", failed.Message);
        var after = int.Parse(await Text(client, "t.pid"));
        Assert.NotEqual(before, after);
        Assert.NotEqual(daemon, env.DaemonPid);
        Assert.False(Processes.Alive(before), "the new daemon reaped the old session's upstream");
        Assert.Contains(await client.ListToolsAsync(), t => t.Name == "t.echo");
    }

    [Fact(Timeout = 180_000)]
    public async Task DaemonKilled_AndNoNewDaemonCanStart_ShimExitsWithTheReasonInsteadOfHanging()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM }"));
        var client = await env.ConnectAsync();
        await Text(client, "t.pid");
        var daemon = env.DaemonPid!.Value;
        Assert.Equal(0, Processes.Kill(daemon, 9));
        await Wait.UntilAsync(() => !Processes.Alive(daemon), "the killed daemon to die");
        await File.WriteAllTextAsync(env.ConfigPath, "schema_version: 1\nupstreams: { t: { comand: typo } }\n");
        try
        {
            // The first call may reach the shim before it has seen the daemon's connection close: then it fails as
            // "in flight" and the shim, by design, reconnects only on the next message. The second call is that message
            // (or finds the shim already gone): either way, after it the shim has tried to start a daemon and given up.
            await Assert.ThrowsAnyAsync<Exception>(async () => await client.CallToolAsync("t.pid", new Dictionary<string, object?>()));
            var error = await Assert.ThrowsAnyAsync<Exception>(async () => await client.CallToolAsync("t.pid", new Dictionary<string, object?>()));

            // The shim, and every daemon start it asked for, must be gone before the config is repaired: a start still
            // reading the config afterwards would bring up a daemon nobody asked for any more.
            try
            {
                await Wait.UntilAsync(() => Processes.Matching(env.ConfigPath).Count == 0, "the shim and its daemon start attempts to exit after it could not reconnect");
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}; the call failed with: {error.Message}; still running:\n{BrokerEnvironment.Describe(Processes.Matching(env.ConfigPath))}");
            }
        }
        finally
        {
            // Repaired even when an assertion failed, so disposal can stop what is left and the real failure shows.
            await File.WriteAllTextAsync(env.ConfigPath, Config("  t: { command: TEST_UPSTREAM }")(env.Root));
        }

        await new ProcessRecords(Path.Combine(env.Root, "run")).ReapOrphansAsync();
    }

    private static int InFlight(McpClient client) =>
        Status(client).GetAwaiter().GetResult().Single().GetProperty("in_flight").GetInt32();

    private static Task<string> Text(McpClient client, string tool, Dictionary<string, object?>? args = null) =>
        BrokerEnvironment.CallTextAsync(client, tool, args ?? []);

    private static Task<List<JsonElement>> Status(McpClient client) => BrokerEnvironment.UpstreamStatusAsync(client);

    private static JsonElement Error(CallToolResult result) => BrokerEnvironment.ErrorOf(result);
}
