using System.Collections.Concurrent;
using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Daemon;

/// <summary>
/// A bounded soak: many calls over many sessions while upstream processes are killed at random. Every request must
/// get exactly one answer, and the daemon must end with the file descriptors and child processes it started with.
/// MCP_BROKER_SOAK_CALLS overrides the number of calls (default 20,000).
/// </summary>
[Collection(nameof(SoakCollection))]
public sealed class DaemonSoakJourneyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Sessions = 16;
    private const int InFlightPerSession = 4;
    private const int Kills = 12;

    [Fact]
    public async Task Soak_CallsOverManySessionsWhileUpstreamsAreKilled_EveryRequestAnsweredOnceAndNothingLeaks()
    {
        var calls = int.TryParse(Environment.GetEnvironmentVariable("MCP_BROKER_SOAK_CALLS"), out var n) ? n : 20_000;
        await using var env = await BrokerEnvironment.CreateAsync(Config);
        var warmup = await env.ConnectAsync();
        await warmup.CallToolAsync("t.echo", new Dictionary<string, object?> { ["message"] = "warm" });
        await warmup.DisposeAsync();
        var daemon = env.DaemonPid!.Value;
        await Wait.UntilAsync(() => Children(daemon) == 1, "the warm-up session's per-session upstream to stop");
        var fdsBefore = OpenFds(daemon);

        var clients = new List<McpClient>();
        for (var i = 0; i < Sessions; i++)
        {
            clients.Add(await env.ConnectAsync());
        }

        var outcomes = new ConcurrentDictionary<string, int>();
        var answered = 0;
        var next = -1;
        using var stop = new CancellationTokenSource();
        var killer = KillAtRandomAsync(daemon, calls, () => Volatile.Read(ref answered), stop.Token);
        var workers = clients.SelectMany(client => Enumerable.Range(0, InFlightPerSession).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < calls)
            {
                var tool = i % 2 == 0 ? "t.echo" : "p.echo";
                var result = await client.CallToolAsync(tool, new Dictionary<string, object?> { ["message"] = $"m{i}" });
                var text = ((TextContentBlock)result.Content[0]).Text;
                var outcome = result.IsError == true ? ErrorCode(text) : text == $"echo: m{i}" ? "ok" : $"wrong answer: {text}";
                outcomes.AddOrUpdate(outcome, 1, (_, c) => c + 1);
                Interlocked.Increment(ref answered);
            }
        }))).ToList();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(5));
        await stop.CancelAsync();
        var killed = await killer;

        Assert.Equal(calls, outcomes.Values.Sum());
        Assert.True(outcomes.GetValueOrDefault("ok") > calls * 9 / 10, string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}")));
        Assert.All(outcomes.Keys, k => Assert.Contains(k, new[] { "ok", "upstream_crashed", "upstream_unavailable" }));
        Assert.True(killed >= Kills / 2, $"only {killed} upstream processes were killed during the soak");

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        await Wait.UntilAsync(() => Children(daemon) <= 1, "per-session upstreams to stop once their sessions ended");
        await Wait.UntilAsync(() => OpenFds(daemon) <= fdsBefore, $"the daemon's pipes and sockets to return to {fdsBefore} (now {OpenFds(daemon)})");
    }

    /// <summary>
    /// Bounded in count and time: 6 sessions × 4 calls in flight while an upstream is killed, then the daemon twice
    /// (kill -9), then an upstream again. Every request gets exactly one answer, its own (an error is an answer: the
    /// shim answers what was in flight when the daemon died), and the sessions go on with the daemon the shims start.
    /// MCP_BROKER_SOAK_KILL_CALLS overrides the number of calls (default 1,200).
    /// </summary>
    [Fact(Timeout = 300_000)]
    public async Task Soak_DaemonAndUpstreamsKilledMidFlight_EveryRequestAnsweredExactlyOnceByItsOwnAnswer()
    {
        const int sessions = 6;
        const int inFlight = 4;
        var calls = int.TryParse(Environment.GetEnvironmentVariable("MCP_BROKER_SOAK_KILL_CALLS"), out var n) ? n : 1_200;
        await using var env = await BrokerEnvironment.CreateAsync(Config);
        var clients = new List<McpClient>();
        for (var i = 0; i < sessions; i++)
        {
            clients.Add(await env.ConnectAsync());
        }

        var answers = new int[calls];
        var outcomes = new ConcurrentDictionary<string, int>();
        var answered = 0;
        var next = -1;
        var killedDaemons = new List<int>();
        var killer = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
            foreach (var (due, daemon) in new[] { (calls / 5, false), (calls * 2 / 5, true), (calls * 3 / 5, true), (calls * 4 / 5, false) })
            {
                while (Volatile.Read(ref answered) < due)
                {
                    await timer.WaitForNextTickAsync();
                }

                // The daemon the shims started last (its pid file is rewritten by each new one).
                if (env.DaemonPid is not { } pid || killedDaemons.Contains(pid) || !Processes.Alive(pid))
                {
                    continue;
                }

                if (daemon)
                {
                    Assert.Equal(0, Processes.Kill(pid, 9));
                    killedDaemons.Add(pid);
                }
                else if (Processes.Descendants(pid).FirstOrDefault(p => p.CommandLine.Contains("mcp-test-upstream", StringComparison.Ordinal)) is { } upstream)
                {
                    Processes.Kill(upstream.Pid, 9);
                }
            }
        });
        var workers = clients.SelectMany(client => Enumerable.Range(0, inFlight).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < calls)
            {
                string outcome;
                try
                {
                    var result = await client.CallToolAsync(i % 2 == 0 ? "t.echo" : "p.echo", new Dictionary<string, object?> { ["message"] = $"m{i}" });
                    var text = ((TextContentBlock)result.Content[0]).Text;
                    outcome = result.IsError == true ? ErrorCode(text) : text == $"echo: m{i}" ? "ok" : $"someone else's answer: {text}";
                }
                catch (McpException ex)
                {
                    outcome = ex.Message.Contains("daemon stopped while this request was in flight", StringComparison.Ordinal) ? "daemon_died_in_flight" : $"error: {ex.Message}";
                }

                Interlocked.Increment(ref answers[i]);
                outcomes.AddOrUpdate(outcome, 1, (_, c) => c + 1);
                Interlocked.Increment(ref answered);
            }
        }))).ToList();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(4));
        await killer.WaitAsync(TimeSpan.FromMinutes(1));

        var summary = string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}"));
        output.WriteLine($"{calls} calls, daemons killed: {killedDaemons.Count}; {summary}");
        Assert.All(answers, count => Assert.Equal(1, count));
        Assert.Equal(calls, outcomes.Values.Sum());
        Assert.All(outcomes.Keys, k => Assert.Contains(k, new[] { "ok", "upstream_crashed", "upstream_unavailable", "daemon_died_in_flight" }));
        Assert.True(outcomes.GetValueOrDefault("ok") > calls / 2, summary);
        Assert.Equal(2, killedDaemons.Count);
        Assert.NotNull(env.DaemonPid);
        Assert.DoesNotContain(env.DaemonPid!.Value, killedDaemons);
        foreach (var client in clients)
        {
            Assert.Equal("echo: after", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "after" }));
        }
    }

    private static async Task<int> KillAtRandomAsync(int daemon, int calls, Func<int> answered, CancellationToken ct)
    {
        var killed = 0;
        var random = new Random(42);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        try
        {
            for (var k = 1; k <= Kills; k++)
            {
                var due = calls * k / (Kills + 1);
                while (answered() < due)
                {
                    await timer.WaitForNextTickAsync(ct);
                }

                var upstreams = Processes.Descendants(daemon).Where(p => p.CommandLine.Contains("mcp-test-upstream", StringComparison.Ordinal)).ToList();
                if (upstreams.Count > 0 && Processes.Kill(upstreams[random.Next(upstreams.Count)].Pid, 9) == 0)
                {
                    killed++;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return killed;
    }

    private static string ErrorCode(string text) =>
        System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString()!;

    private static int Children(int daemon) => Processes.Descendants(daemon).Count;

    /// <summary>
    /// The daemon's open pipes and sockets: what an upstream instance or a session holds. (Files are left out: the
    /// runtime opens assemblies and symbol files lazily, once, and keeps them.)
    /// </summary>
    private static int OpenFds(int pid) => Directory.GetFiles($"/proc/{pid}/fd")
        .Select(f => new FileInfo(f).LinkTarget ?? "")
        .Count(t => t.StartsWith("pipe:", StringComparison.Ordinal) || t.StartsWith("socket:", StringComparison.Ordinal));

    /// <summary>A raw profile over a shared and a per-session test upstream, both restarted quickly however often they are killed.</summary>
    private static string Config(string root) => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        profiles:
          default: { compact_tools_enabled: false, allow_mutating_upstreams: ["*"] }
        upstreams:
          t: { command: "{{Repo.TestUpstream}}", restart: { max_attempts: 1000, backoff: 100ms, max_backoff: 200ms } }
          p: { command: "{{Repo.TestUpstream}}", mode: per_session, restart: { max_attempts: 1000, backoff: 100ms, max_backoff: 200ms } }
        """;
}

/// <summary>The soak loads both cores on purpose: it runs alone, so other tests' timing does not depend on it.</summary>
[CollectionDefinition(nameof(SoakCollection), DisableParallelization = true)]
public sealed class SoakCollection;
