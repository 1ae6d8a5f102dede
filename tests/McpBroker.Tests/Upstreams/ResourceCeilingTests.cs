using System.Text.Json;
using McpBroker.Config;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;
using Microsoft.Extensions.Time.Testing;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// Resource ceilings (limits) over a real upstream that allocates memory: usage that stays over the ceiling for 'over'
/// restarts it once its calls in flight end, saying why in status; and the judgement itself, step by step in time.
/// </summary>
public sealed class ResourceCeilingTests
{
    private static Dictionary<string, JsonElement> Args(string json) => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    private static async Task<string> TextAsync(UpstreamSupervisor supervisor, string tool, string args = "{}")
    {
        var outcome = await supervisor.CallToolAsync("s1", tool, Args(args), CancellationToken.None);
        Assert.True(outcome.Ok, outcome.Error?.Message);
        return string.Concat(outcome.Value!.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text));
    }

    [LinuxFact]
    public async Task AnUpstreamOverItsMemoryCeiling_IsRestartedOnceItsCallInFlightEnds_AndStatusSaysWhy()
    {
        // Sampling and judging run on the clock the test moves: a sample every 100 ms of it (a quarter of over, at least
        // 100 ms), its timer set as the instance starts. Each step of the clock below is seen through the sample it
        // causes: the upstream holds more memory before each step, so the next figure in the snapshot is that sample's.
        var over = TimeSpan.FromMilliseconds(300);
        var period = TimeSpan.FromMilliseconds(100);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var root = Directory.CreateTempSubdirectory("mbip-").FullName;
        await using var broker = await InProcessBroker.CreateAsync($$"""
            upstreams:
              t: { command: "{{Repo.TestUpstream}}", args: ["--marker-dir", "{{root}}", "--allocate"], limits: { memory: 300MiB, over: 300ms } }
            """, root, time);
        var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;
        var before = int.Parse(await TextAsync(supervisor, "pid"));
        time.Advance(period);
        await Wait.UntilAsync(() => supervisor.Snapshot().MemoryBytes is > 0, "the first sample of the upstream's memory");
        Assert.InRange(supervisor.Snapshot().MemoryBytes!.Value, 1 << 20, 300L << 20);

        // Over the ceiling from the next sample on, and still over just before 'over' has passed: not restarted yet.
        Assert.Equal("holding 400 MiB", await TextAsync(supervisor, "allocate", """{"mb": 400}"""));
        var held = await SampledAsync(supervisor, time, period, 300L << 20, "a sample over the ceiling");
        Assert.Equal("holding 410 MiB", await TextAsync(supervisor, "allocate", """{"mb": 10}"""));
        held = await SampledAsync(supervisor, time, over - TimeSpan.FromMilliseconds(1), held + (8L << 20), "the sample just before 'over' passed");
        Assert.Equal(before, int.Parse(await TextAsync(supervisor, "pid")));
        Assert.Null(supervisor.Snapshot().CeilingRestart);

        // A call in flight once 'over' has passed: the restart waits for it, however long the clock runs on meanwhile.
        using var holding = new CancellationTokenSource();
        var inFlight = supervisor.CallToolAsync("s1", "slow", Args("""{"ms": 600000, "tag": "inflight"}"""), holding.Token);
        await Wait.UntilAsync(() => File.Exists(Path.Combine(root, "started-inflight")), "the slow call to reach the upstream");
        Assert.Equal("holding 420 MiB", await TextAsync(supervisor, "allocate", """{"mb": 10}"""));
        await SampledAsync(supervisor, time, period, held + (8L << 20), "the sample after 'over' passed");
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(before, int.Parse(await TextAsync(supervisor, "pid")));
        Assert.False(inFlight.IsCompleted);
        Assert.Null(supervisor.Snapshot().CeilingRestart);

        // It ends (its caller gave up): the next tick restarts the upstream.
        await holding.CancelAsync();
        Assert.Equal("cancelled", (await inFlight).Error!.CodeName);
        time.Advance(period);
        await Wait.UntilAsync(() => supervisor.Snapshot().CeilingRestart is not null && !Processes.Alive(before), "the upstream to be restarted over its ceiling");
        var state = supervisor.Snapshot();
        Assert.Matches(@"^its memory \([0-9.]+ MiB\) stayed over limits.memory \(300 MiB\) for 300ms; restarted at \d\d:\d\d:\d\d UTC$", state.CeilingRestart);
        Assert.Equal(0, state.ConsecutiveFailures);
        var after = int.Parse(await TextAsync(supervisor, "pid"));
        Assert.NotEqual(before, after);
        var limits = ResourceCeiling.Status(broker.Model.Upstreams.Single(u => u.Name == "t").Limits!, [supervisor.Snapshot()]);
        Assert.Equal(300L << 20, limits["memory_bytes"]!.GetValue<long>());
        Assert.StartsWith("its memory", limits["last_restart"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    /// <summary>Moves the clock by <paramref name="step"/> and waits for the sample that shows at least <paramref name="atLeast"/> bytes; returns them.</summary>
    private static async Task<long> SampledAsync(UpstreamSupervisor supervisor, FakeTimeProvider time, TimeSpan step, long atLeast, string what)
    {
        time.Advance(step);
        await Wait.UntilAsync(() => supervisor.Snapshot().MemoryBytes >= atLeast, what);
        return supervisor.Snapshot().MemoryBytes!.Value;
    }

    private sealed class SteppedTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 7, 6, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Judge_UsageOverACeiling_RestartsOnlyOnceItStayedOverForOver_AndADipStartsAgain()
    {
        var time = new SteppedTime();
        var ceiling = new ResourceCeiling(new ResourceLimits(100L << 20, 50, TimeSpan.FromSeconds(60)), time);
        var over = new ResourceUsage(200L << 20, 10);

        Assert.Null(ceiling.Judge(over));
        time.Now += TimeSpan.FromSeconds(59);
        Assert.Null(ceiling.Judge(over));
        time.Now += TimeSpan.FromSeconds(1);
        Assert.Equal("its memory (200 MiB) stayed over limits.memory (100 MiB) for 1m", ceiling.Judge(over));

        Assert.Null(ceiling.Judge(new ResourceUsage(1L << 20, 10))); // a dip below: the clock starts again
        time.Now += TimeSpan.FromSeconds(30);
        Assert.Null(ceiling.Judge(new ResourceUsage(1L << 20, 75)));
        time.Now += TimeSpan.FromSeconds(60);
        Assert.Equal("its CPU (75% of a core) stayed over limits.cpu_percent (50%) for 1m", ceiling.Judge(new ResourceUsage(1L << 20, 75)));
        Assert.Null(ceiling.Judge(new ResourceUsage(1L << 20, null))); // no CPU figure yet (the first sample)
    }

    [Theory]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("2G", 2L << 30)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("300MB", 300_000_000L)]
    [InlineData("4096", 4096L)]
    [InlineData("lots", null)]
    [InlineData("-1MiB", null)]
    [InlineData("1PiB", null)]
    public void ParseSize_ReadsUnits(string text, long? bytes) => Assert.Equal(bytes, ResourceLimits.ParseSize(text));

    [Fact]
    public void Config_BadLimits_AreRefusedSayingWhatToWrite()
    {
        var result = ConfigLoader.Load("""
            schema_version: 1
            runtime: { root: /tmp/mb-limits }
            upstreams:
              a: { command: /bin/true, limits: { memory: lots, cpu_percent: 0, over: 0s } }
              b: { transport: http, url: "http://127.0.0.1:1/mcp", limits: { memory: 1GiB } }
              c: { command: /bin/true, limits: { over: 10s } }
              d: { command: /bin/true, limits: { cpu_percent: 90 } }
            """, "/etc/broker.yaml", _ => null);

        var errors = result.Errors.ToDictionary(e => e.Path, e => e.Message);
        Assert.StartsWith("'lots' is not a memory size of at least 1MiB; write a number with a unit, e.g. 512MiB or 2GiB", errors["upstreams.a.limits.memory"], StringComparison.Ordinal);
        Assert.StartsWith("0 is out of range", errors["upstreams.a.limits.cpu_percent"], StringComparison.Ordinal);
        Assert.StartsWith("must be more than 0", errors["upstreams.a.limits.over"], StringComparison.Ordinal);
        Assert.StartsWith("limits is for stdio upstreams", errors["upstreams.b.limits"], StringComparison.Ordinal);
        Assert.Equal(4, errors.Count);

        var valid = ConfigLoader.Load("""
            schema_version: 1
            runtime: { root: /tmp/mb-limits }
            upstreams:
              c: { command: /bin/true, limits: { over: 10s } }
              d: { command: /bin/true, limits: { cpu_percent: 90 } }
            """, "/etc/broker.yaml", _ => null);
        Assert.Empty(valid.Errors);
        Assert.Null(valid.Model!.Upstreams.Single(u => u.Name == "c").Limits);
        Assert.Equal(new ResourceLimits(null, 90, TimeSpan.FromSeconds(60)), valid.Model.Upstreams.Single(u => u.Name == "d").Limits);
    }
}
