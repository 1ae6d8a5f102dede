using System.Text.Json;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;
using Microsoft.Extensions.Time.Testing;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// An upstream's supervisor in-process over real processes, at the edges of its life: a start that never finishes,
/// a start the caller gives up on, a process that dies at start, a call that waits for a slot, a call that is not
/// answered in time, a hung upstream. Every timeout runs on a FakeTimeProvider the test moves: to just before the limit
/// (the request still runs, or succeeds if let through then), and past it.
/// </summary>
public sealed class UpstreamSupervisorTests
{
    /// <summary>The timeouts the tests below configure (start: 2m; call, or the tool's: 2m), and a step of the clock.</summary>
    private static readonly TimeSpan s_start = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan s_call = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan s_tick = TimeSpan.FromMilliseconds(1);

    private static Dictionary<string, JsonElement> Args(string json) => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    /// <summary>A process that never speaks MCP; its command line carries the broker's root, so the test can find it.</summary>
    private static string Mute(string root, string timeouts) =>
        $$"""mute: { command: /bin/sh, args: ["-c", "sleep 600; true", "{{root}}"], timeouts: {{timeouts}} }""";

    /// <summary>
    /// The test upstream behind a gate: the process starts at once but speaks MCP only once the file <c>go</c> appears
    /// in the broker's root (the fixture waits, not the test).
    /// </summary>
    private static string Gated(string root, string timeouts) =>
        $$"""gated: { command: /bin/sh, args: ["-c", "while [ ! -e \"$0/go\" ]; do sleep 0.05; done; exec \"$1\"", "{{root}}", "{{Repo.TestUpstream}}"], timeouts: {{timeouts}} }""";

    private static async Task<InProcessBroker> CreateAsync(Func<string, string> upstreams, TimeProvider? time = null)
    {
        var root = Directory.CreateTempSubdirectory("mbip-").FullName;
        Directory.Delete(root);
        return await InProcessBroker.CreateAsync($"upstreams:\n  {upstreams(root).ReplaceLineEndings("\n  ")}", root, time);
    }

    private static int Pid(Outcome<ModelContextProtocol.Protocol.CallToolResult> outcome) =>
        int.Parse(Assert.IsType<ModelContextProtocol.Protocol.TextContentBlock>(Assert.Single(outcome.Value!.Content)).Text);

    /// <summary>
    /// Starts a call of session s1 that runs until <paramref name="ct"/> is cancelled, once it has reached the upstream
    /// (started with --marker-dir at the broker's root), so it holds a slot from then on.
    /// </summary>
    private static async Task<Task<Outcome<ModelContextProtocol.Protocol.CallToolResult>>> SlowCallStartedAsync(
        InProcessBroker broker, McpBroker.Upstreams.UpstreamSupervisor supervisor, CancellationToken ct)
    {
        var call = supervisor.CallToolAsync("s1", "slow", Args("""{"ms": 600000, "tag": "first"}"""), ct);
        await Wait.UntilAsync(() => File.Exists(Path.Combine(broker.Root, "started-first")) || call.IsCompleted, "the first call to reach the upstream");
        Assert.False(call.IsCompleted);
        return call;
    }

    [Fact]
    public async Task Start_AnUpstreamThatNeverAnswersInitialize_FailsAtItsStartTimeoutAndIsStopped()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(root => Mute(root, "{ start: 2m }"), time);
        var supervisor = broker.Registry.Acquire("mute", "s1")!.Value.Supervisor;

        var call = supervisor.CallToolAsync("s1", "any", null, CancellationToken.None);
        await Wait.UntilAsync(() => Processes.Matching(broker.Root).Count == 1 || call.IsCompleted, "the upstream process to start");
        time.Advance(s_start - s_tick);
        Assert.False(call.IsCompleted);
        time.Advance(s_tick);
        var outcome = await call.WaitAsync(Wait.Timeout);

        Assert.False(outcome.Ok);
        Assert.Equal("upstream_unavailable", outcome.Error!.CodeName);
        Assert.StartsWith("upstream 'mute' could not start: no answer to initialize within 2m", outcome.Error.Message, StringComparison.Ordinal);
        Assert.Equal("check upstreams.mute (command, args, env_from, env_files); 'broker.status' shows the last error", outcome.Error.Hint);
        Assert.Empty(Processes.Matching(broker.Root));
        Assert.Empty(broker.Records.Read());
        Assert.Contains("no answer to initialize within 2m", broker.Registry.Snapshot("mute", null).LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_AnsweringInitializeJustBeforeItsStartTimeout_Starts()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(root => Gated(root, "{ start: 2m }"), time);
        var supervisor = broker.Registry.Acquire("gated", "s1")!.Value.Supervisor;

        var call = supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None);
        await Wait.UntilAsync(() => Processes.Matching(broker.Root).Count == 1 || call.IsCompleted, "the upstream process to start");
        time.Advance(s_start - s_tick);
        await File.WriteAllTextAsync(Path.Combine(broker.Root, "go"), "");
        var outcome = await call.WaitAsync(Wait.Timeout);

        Assert.True(outcome.Ok, outcome.Error?.Message);
        Assert.True(Processes.Alive(Pid(outcome)));
        Assert.Equal(("running", 0), (broker.Registry.Snapshot("gated", null).State, broker.Registry.Snapshot("gated", null).ConsecutiveFailures));
    }

    [Fact]
    public async Task Start_ARemoteUpstreamThatNeverAnswersInitialize_FailsAtItsStartTimeout()
    {
        // A listener that takes the connection and never answers.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}/mcp";
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(_ => $$"""silent: { transport: http, url: "{{url}}", timeouts: { start: 2m } }""", time);
        var supervisor = broker.Registry.Acquire("silent", "s1")!.Value.Supervisor;

        var call = supervisor.CallToolAsync("s1", "any", null, CancellationToken.None);
        using var connection = await listener.AcceptTcpClientAsync().WaitAsync(Wait.Timeout); // connected once its start timeout is set
        time.Advance(s_start - s_tick);
        Assert.False(call.IsCompleted);
        time.Advance(s_tick);
        var outcome = await call.WaitAsync(Wait.Timeout);

        Assert.Equal("upstream_unavailable", outcome.Error!.CodeName);
        Assert.StartsWith($"upstream 'silent' could not start: no answer to initialize from {url} within 2m", outcome.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_TheCallerGivesUp_IsCancelledAndTheStartGoesOnForTheNext()
    {
        await using var broker = await CreateAsync(root => Mute(root, "{ start: 60s }"));
        var supervisor = broker.Registry.Acquire("mute", "s1")!.Value.Supervisor;
        using var cts = new CancellationTokenSource();

        var call = supervisor.CallToolAsync("s1", "any", null, cts.Token);
        await Wait.UntilAsync(() => Processes.Matching(broker.Root).Count == 1, "the upstream process to start");
        broker.RememberProcesses();
        await cts.CancelAsync();
        var outcome = await call;

        Assert.Equal("cancelled", outcome.Error!.CodeName);
        Assert.Equal("the request was cancelled while the upstream started", outcome.Error.Message);
        Assert.Equal("starting", broker.Registry.Snapshot("mute", null).State);
    }

    [Fact]
    public async Task Start_AProcessThatExitsAtStart_IsReportedWithItsExitCodeAndStderrCutToALine()
    {
        var noise = new string('e', 1000);
        await using var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--stderr", "{{noise}}", "--exit-at-start", "3"] }""");
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;

        var outcome = await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);

        Assert.Equal("upstream_unavailable", outcome.Error!.CodeName);
        Assert.Contains("exited with code 3; last stderr lines:", outcome.Error.Message, StringComparison.Ordinal);
        Assert.Contains("  " + new string('e', 400) + "…", outcome.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('e', 401), outcome.Error.Message, StringComparison.Ordinal);
        Assert.Contains("test upstream: exiting at start as asked", outcome.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Call_WaitingForAFreeSlotAndCancelled_IsCancelledAndTheSlotServesTheNext()
    {
        await using var broker = await CreateAsync(root => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--marker-dir", "{{root}}"], max_concurrency: 1 }""");
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        using var holding = new CancellationTokenSource();
        using var waiting = new CancellationTokenSource();

        var first = await SlowCallStartedAsync(broker, supervisor, holding.Token);
        broker.RememberProcesses();
        var second = supervisor.CallToolAsync("s2", "echo", Args("""{"message": "x"}"""), waiting.Token);
        // Queued counts the catalog's tools/list too, which waits for the same slot once the instance started.
        await Wait.UntilAsync(() => broker.Registry.Queued("t") >= 1, "the second call to queue for the slot");
        await waiting.CancelAsync();

        Assert.Equal("cancelled", (await second).Error!.CodeName);
        await holding.CancelAsync();
        Assert.Equal("cancelled", (await first).Error!.CodeName);
        var after = await supervisor.CallToolAsync("s2", "echo", Args("""{"message": "free"}"""), CancellationToken.None);
        Assert.True(after.Ok);
        Assert.Equal(0, broker.Registry.Queued("t"));
    }

    /// <summary>An upstream with one slot (calls time out after 2m) whose slot a slow call of s1 holds until <paramref name="holding"/> is cancelled.</summary>
    private static async Task<(InProcessBroker Broker, UpstreamSupervisor Supervisor, Task<Outcome<ModelContextProtocol.Protocol.CallToolResult>> Holder)> OneSlotHeldAsync(
        FakeTimeProvider time, CancellationToken holding)
    {
        var broker = await CreateAsync(root => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--marker-dir", "{{root}}"], max_concurrency: 1, timeouts: { call: 2m, tools: { slow: 1h } } }""", time);
        try
        {
            var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
            var holder = await SlowCallStartedAsync(broker, supervisor, holding);
            broker.RememberProcesses();
            return (broker, supervisor, holder);
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task Call_WaitingForASlotLongerThanItsTimeout_TimesOutSayingSo()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var holding = new CancellationTokenSource();
        var (broker, supervisor, first) = await OneSlotHeldAsync(time, holding.Token);
        await using var _ = broker;

        // The call is queued, its timeout set, before CallToolAsync returns.
        var second = supervisor.CallToolAsync("s2", "echo", Args("""{"message": "x"}"""), CancellationToken.None);
        time.Advance(s_call - s_tick);
        Assert.False(second.IsCompleted);
        time.Advance(s_tick);
        var outcome = await second.WaitAsync(Wait.Timeout);

        Assert.Equal("upstream_timeout", outcome.Error!.CodeName);
        Assert.StartsWith("upstream 't' did not finish waiting for a free slot within 2m", outcome.Error.Message, StringComparison.Ordinal);
        Assert.False(first.IsCompleted);
        await holding.CancelAsync();
        Assert.Equal("cancelled", (await first).Error!.CodeName);
    }

    [Fact]
    public async Task Call_GivenASlotJustBeforeItsTimeout_IsServed()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var holding = new CancellationTokenSource();
        var (broker, supervisor, first) = await OneSlotHeldAsync(time, holding.Token);
        await using var _ = broker;

        var second = supervisor.CallToolAsync("s2", "echo", Args("""{"message": "served"}"""), CancellationToken.None);
        time.Advance(s_call - s_tick);
        await holding.CancelAsync();
        var outcome = await second.WaitAsync(Wait.Timeout);

        Assert.Equal("cancelled", (await first).Error!.CodeName);
        Assert.True(outcome.Ok, outcome.Error?.Message);
        Assert.Equal("echo: served", Assert.IsType<ModelContextProtocol.Protocol.TextContentBlock>(Assert.Single(outcome.Value!.Content)).Text);
    }

    [Fact]
    public async Task Call_NotAnsweredWithinItsTimeout_TimesOutAndIsCancelledUpstream_AndTheSharedProcessServesOn()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(root => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--marker-dir", "{{root}}"], timeouts: { call: 1h, tools: { slow: 2m } } }""", time);
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        var pid = Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None));
        broker.RememberProcesses();

        var call = await SlowCallStartedAsync(broker, supervisor, CancellationToken.None);
        time.Advance(s_call - s_tick);
        Assert.False(call.IsCompleted);
        time.Advance(s_tick);
        var outcome = await call.WaitAsync(Wait.Timeout);

        Assert.Equal("upstream_timeout", outcome.Error!.CodeName);
        Assert.StartsWith("upstream 't' did not finish answering within 2m; the request was cancelled upstream", outcome.Error.Message, StringComparison.Ordinal);
        await Wait.UntilAsync(() => File.Exists(Path.Combine(broker.Root, "cancelled-first")), "notifications/cancelled to reach the upstream");
        Assert.Equal(pid, Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None)));
    }

    [LinuxFact]
    public async Task Call_AnsweredJustBeforeItsTimeout_IsAnswered()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}", timeouts: { call: 2m } }""", time);
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        var pid = Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None));
        broker.RememberProcesses();

        // Stopped, the upstream answers only once continued: just before the call's timeout, on the test's clock.
        Assert.Equal(0, Processes.Kill(pid, Processes.SIGSTOP));
        await Wait.UntilAsync(() => Processes.Stopped(pid), "the upstream to stop");
        var call = supervisor.CallToolAsync("s1", "echo", Args("""{"message": "late"}"""), CancellationToken.None);
        time.Advance(s_call - s_tick);
        Assert.Equal(0, Processes.Kill(pid, Processes.SIGCONT));
        var outcome = await call.WaitAsync(Wait.Timeout);

        Assert.True(outcome.Ok, outcome.Error?.Message);
        Assert.Equal("echo: late", Assert.IsType<ModelContextProtocol.Protocol.TextContentBlock>(Assert.Single(outcome.Value!.Content)).Text);
    }

    [LinuxFact]
    public async Task Call_TimedOutOnAHungUpstreamThatNoLongerAnswersPing_StopsIt_AndTheNextCallStartsANewOne()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}", timeouts: { tools: { freeze: 2m } } }""", time);
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        var frozen = Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None));
        broker.RememberProcesses();

        var call = supervisor.CallToolAsync("s1", "freeze", null, CancellationToken.None);
        await Wait.UntilAsync(() => Processes.Stopped(frozen), "the upstream to freeze");
        time.Advance(s_call);
        var outcome = await call.WaitAsync(Wait.Timeout);

        // The ping that follows the timeout is set off (its own timeout set) before the outcome returns.
        Assert.Equal("upstream_timeout", outcome.Error!.CodeName);
        time.Advance(HealthCheck.Timeout - s_tick);
        Assert.True(Processes.Alive(frozen));
        Assert.Null(broker.Registry.Snapshot("t", null).LastError);
        time.Advance(s_tick);
        await Wait.UntilAsync(() => !Processes.Alive(frozen), "the hung upstream (no answer to ping) to be stopped");
        Assert.Contains("did not answer ping within 5s after a timed-out call", broker.Registry.Snapshot("t", null).LastError, StringComparison.Ordinal);
        Assert.NotEqual(frozen, Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None)));
    }

    [Fact]
    public async Task Start_FailingTwiceInARow_BacksOffBeforeTheNextTry_AndStartsAgainOnceTheBackoffPassed()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--exit-at-start", "3"], restart: { backoff: 10m, max_backoff: 10m } }""", time);
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;

        await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);
        var afterOne = broker.Registry.Snapshot("t", null);
        await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);
        var afterTwo = broker.Registry.Snapshot("t", null);
        var third = await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);
        var afterThird = broker.Registry.Snapshot("t", null);
        time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);
        var justBefore = broker.Registry.Snapshot("t", null);
        time.Advance(TimeSpan.FromSeconds(1));
        await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);
        var once = broker.Registry.Snapshot("t", null);

        Assert.Equal(("stopped", 1, (DateTimeOffset?)null), (afterOne.State, afterOne.ConsecutiveFailures, afterOne.RetryAt));
        Assert.Equal(("backoff", 2, (DateTimeOffset?)time.Start.AddMinutes(10)), (afterTwo.State, afterTwo.ConsecutiveFailures, afterTwo.RetryAt));
        Assert.Equal("upstream_unavailable", third.Error!.CodeName);
        Assert.Equal(2, afterThird.ConsecutiveFailures); // the third did not start it again
        Assert.Equal(2, justBefore.ConsecutiveFailures); // nor a call a second before the backoff ends
        Assert.Equal(3, once.ConsecutiveFailures); // the first call after it starts it again
    }

    [Fact]
    public async Task Idle_ForItsIdleTimeout_StopsTheInstance_AndTheNextCallStartsANewOne()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}", idle_timeout: 10m }""", time);
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        var first = Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None));
        broker.RememberProcesses();

        // The idle check ticks every quarter of the timeout, at most every 30 s: step the clock a tick at a time until the
        // instance stops. A request the catalog sends after the start (its tools/list) touches the instance at whatever
        // time the clock then shows, so the stop comes 10 minutes of clock after the last request, not after the call.
        await Wait.UntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(30));
                return !Processes.Alive(first);
            },
            "the idle instance to stop");
        Assert.True(time.GetUtcNow() - time.Start >= TimeSpan.FromMinutes(10));
        Assert.Equal("stopped", broker.Registry.Snapshot("t", null).State);
        var second = Pid(await supervisor.CallToolAsync("s1", "pid", null, CancellationToken.None));
        Assert.NotEqual(first, second);
        Assert.Equal("running", broker.Registry.Snapshot("t", null).State);
    }

    [Fact]
    public async Task Call_TheUpstreamAnswersAJsonRpcError_IsAnUpstreamErrorWithAHint()
    {
        await using var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--unknown-tool-error"] }""");
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;

        var outcome = await supervisor.CallToolAsync("s1", "no_such_tool", null, CancellationToken.None);
        broker.RememberProcesses();

        Assert.Equal("upstream_error", outcome.Error!.CodeName);
        Assert.StartsWith("upstream 't' answered with an error: ", outcome.Error.Message, StringComparison.Ordinal);
        Assert.Contains("unknown tool no_such_tool", outcome.Error.Message, StringComparison.Ordinal);
        Assert.Equal("check the arguments against describe_tool's input schema", outcome.Error.Hint);
        Assert.Equal(("running", 0), (broker.Registry.Snapshot("t", null).State, broker.Registry.Snapshot("t", null).ConsecutiveFailures));
    }

    [Fact]
    public async Task Call_AfterTheRegistryStopped_IsRefusedAsStopping()
    {
        var broker = await CreateAsync(_ => $$"""t: { command: "{{Repo.TestUpstream}}" }""");
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        await broker.DisposeAsync();

        var outcome = await supervisor.CallToolAsync("s1", "echo", null, CancellationToken.None);

        Assert.Equal("upstream_unavailable", outcome.Error!.CodeName);
        Assert.Equal("upstream 't' is stopping", outcome.Error.Message);
        Assert.Equal("the daemon is shutting down", outcome.Error.Hint);
    }

    [Fact]
    public async Task PerSession_WithoutASession_RunsOnAnInstanceOfItsOwnThatStopsWithTheLease()
    {
        await using var broker = await CreateAsync(_ => $$"""ps: { command: "{{Repo.TestUpstream}}", mode: per_session }""");
        var lease = broker.Registry.Acquire("ps", null)!.Value;
        int pid;
        await using (lease)
        {
            var outcome = await lease.Supervisor.CallToolAsync(null, "pid", null, CancellationToken.None);
            pid = int.Parse(Assert.IsType<ModelContextProtocol.Protocol.TextContentBlock>(Assert.Single(outcome.Value!.Content)).Text);
            Assert.Empty(broker.Registry.States("ps"));
        }

        Assert.False(Processes.Alive(pid));
    }

    [Fact]
    public async Task Start_FailingBeforeTheStarterReturns_IsNotKeptAsTheInstance_AndTheNextCallStartsAgain()
    {
        // A start can fail before StartAsync returns to the supervisor, which then held a failed start as its instance:
        // every later request got that failure again, 'upstream restart' included, until the daemon restarted. Seen when
        // a thread was preempted between queueing the launcher's first continuation and awaiting it (an OAuth upstream
        // without tokens, under load); a context that runs continuations inline makes that order certain here.
        await using var broker = await CreateAsync(_ => """u: { command: "/nonexistent/bin/server" }""");
        var supervisor = broker.Registry.Acquire("u", "s1")!.Value.Supervisor;
        var caller = SynchronizationContext.Current;
        Outcome<ModelContextProtocol.Protocol.CallToolResult> first;
        SynchronizationContext.SetSynchronizationContext(new InlineContext());
        try
        {
            first = await supervisor.CallToolAsync("s1", "any", null, CancellationToken.None);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(caller);
        }

        var second = await supervisor.CallToolAsync("s1", "any", null, CancellationToken.None);

        Assert.Equal("upstream 'u' could not start: command '/nonexistent/bin/server' was not found", first.Error!.Message);
        Assert.Equal(first.Error.Message, second.Error!.Message);
        // The second call tried again: two failures in a row, and now the backoff before a third.
        Assert.Equal(("backoff", 2), (broker.Registry.Snapshot("u", null).State, broker.Registry.Snapshot("u", null).ConsecutiveFailures));
    }

    /// <summary>Runs what is posted to it at once, on the posting thread.</summary>
    private sealed class InlineContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) => d(state);
    }

    [Theory]
    [InlineData("/nonexistent/bin/server", "command '/nonexistent/bin/server' was not found")]
    [InlineData("no-such-server-anywhere", "command 'no-such-server-anywhere' was not found on PATH")]
    [InlineData("not-executable", "command 'not-executable' was not found on PATH")]
    public async Task Start_ACommandThatCannotBeFound_SaysSoWithoutStartingAnything(string command, string message)
    {
        // PATH is the upstream's own: one folder that holds a file of that name which may not be run.
        await using var broker = await CreateAsync(root =>
        {
            Directory.CreateDirectory(Path.Combine(root, "bin"));
            File.WriteAllText(Path.Combine(root, "bin", "not-executable"), "#!/bin/sh\n");
            return $$"""u: { command: "{{command}}", env: { PATH: "{{root}}/bin" } }""";
        });
        var supervisor = broker.Registry.Acquire("u", "s1")!.Value.Supervisor;

        var outcome = await supervisor.CallToolAsync("s1", "any", null, CancellationToken.None);

        Assert.Equal("upstream_unavailable", outcome.Error!.CodeName);
        Assert.Equal($"upstream 'u' could not start: {message}", outcome.Error.Message);
        Assert.Empty(broker.Records.Read());
    }

    [Fact]
    public async Task Call_TwoAtOnceFromOneSession_BothAreServedAndTheSessionStaysCounted()
    {
        await using var broker = await CreateAsync(root => $$"""t: { command: "{{Repo.TestUpstream}}", args: ["--marker-dir", "{{root}}"] }""");
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        using var holding = new CancellationTokenSource();
        var first = await SlowCallStartedAsync(broker, supervisor, holding.Token);
        broker.RememberProcesses();

        var second = await supervisor.CallToolAsync("s1", "echo", Args("""{"message": "meanwhile"}"""), CancellationToken.None);
        await holding.CancelAsync();

        Assert.True(second.Ok);
        Assert.Equal("cancelled", (await first).Error!.CodeName);
        Assert.Equal(1, broker.Registry.Snapshot("t", null).Sessions);
    }

    [Theory]
    [InlineData("2025-11-25", 1)]
    [InlineData(null, 0)]
    public async Task Call_ToAnHttpUpstreamCancelled_IsToldWithItsRequestIdOnlyInTheSessionEra(string? sessionRevision, int told)
    {
        await using var server = await TestHttpServer.StartAsync(statelessOnly: sessionRevision is null, sessionRevision: sessionRevision);
        await using var broker = await CreateAsync(_ => $$"""web: { transport: http, url: "{{server.McpUrl}}" }""");
        var supervisor = broker.Registry.Acquire("web", "s1")!.Value.Supervisor;
        using var cancel = new CancellationTokenSource();

        var call = supervisor.CallToolAsync("s1", "slow", Args("""{"ms": 600000}"""), cancel.Token);
        await Wait.UntilAsync(() => server.Counters.SlowStarted > 0 || call.IsCompleted, "the call to reach the upstream");
        Assert.False(call.IsCompleted);
        await cancel.CancelAsync();

        Assert.Equal("cancelled", (await call).Error!.CodeName);
        // Sent before the call ends (session era); a 2026-07-28 server has its request's stream closed instead.
        Assert.Equal(told == 1 ? [Assert.Single(server.SlowCalls)] : [], server.Cancelled);
        await Wait.UntilAsync(() => server.Counters.SlowCancelled > 0, "the upstream's tool to see its cancellation");
    }

    [Theory]
    [InlineData("2025-11-25", 1)]
    [InlineData(null, 0)]
    public async Task Call_ToAnHttpUpstreamTimedOut_IsToldWithItsRequestIdOnlyInTheSessionEra(string? sessionRevision, int told)
    {
        await using var server = await TestHttpServer.StartAsync(statelessOnly: sessionRevision is null, sessionRevision: sessionRevision);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var broker = await CreateAsync(_ => $$"""web: { transport: http, url: "{{server.McpUrl}}", timeouts: { call: 2m } }""", time);
        var supervisor = broker.Registry.Acquire("web", "s1")!.Value.Supervisor;

        var call = supervisor.CallToolAsync("s1", "slow", Args("""{"ms": 600000}"""), CancellationToken.None);
        await Wait.UntilAsync(() => server.Counters.SlowStarted > 0 || call.IsCompleted, "the call to reach the upstream");
        time.Advance(s_call - s_tick);
        Assert.False(call.IsCompleted);
        time.Advance(s_tick);
        var outcome = await call.WaitAsync(Wait.Timeout);

        Assert.Equal("upstream_timeout", outcome.Error!.CodeName);
        Assert.StartsWith("upstream 'web' did not finish answering within 2m", outcome.Error.Message, StringComparison.Ordinal);
        await Wait.UntilAsync(() => server.Counters.SlowCancelled > 0, "the upstream's tool to see its cancellation");
        Assert.Equal(told == 1 ? [Assert.Single(server.SlowCalls)] : [], server.Cancelled);
    }
}
