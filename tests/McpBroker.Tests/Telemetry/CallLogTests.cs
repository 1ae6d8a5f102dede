using McpBroker.Telemetry;

namespace McpBroker.Tests.Telemetry;

public sealed class CallLogTests
{
    /// <summary>A clock the test moves: each call takes exactly what the test says.</summary>
    private sealed class SteppedTime : TimeProvider
    {
        public long Ticks { get; set; } = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Ticks;

        public override DateTimeOffset GetUtcNow() => new(Ticks + DateTimeOffset.UnixEpoch.UtcTicks, TimeSpan.Zero);
    }

    private static void Call(CallLog log, SteppedTime time, string upstream, string tool, TimeSpan takes, string outcome = CallLog.Ok)
    {
        var start = time.GetTimestamp();
        time.Ticks += takes.Ticks;
        log.Record("p", upstream, tool, start, outcome);
    }

    [Fact]
    public void Record_CountsCallsAndErrorsPerUpstream_WithPercentilesWithinTheirBucketAndNeverAboveTheSlowest()
    {
        var time = new SteppedTime();
        var log = new CallLog(time);
        for (var i = 0; i < 19; i++)
        {
            Call(log, time, "a", "echo", TimeSpan.FromMilliseconds(1));
        }

        Call(log, time, "a", "slow", TimeSpan.FromMilliseconds(300), "upstream_timeout");
        Call(log, time, "b", "x", TimeSpan.FromMilliseconds(3), CallLog.ToolError);

        var a = log.Summary("a");
        Assert.Equal(20, a["calls"]!.GetValue<long>());
        Assert.Equal(1, a["errors"]!.GetValue<long>());
        var latency = a["latency_ms"]!;
        var p50 = latency["p50"]!.GetValue<double>();
        Assert.InRange(p50, 1.0, 2.0); // 1 ms lies in the bucket up to 1.024 ms
        Assert.InRange(latency["p95"]!.GetValue<double>(), 1.0, 2.0); // the 19th of 20 calls is still a 1 ms one
        Assert.Equal(300.0, latency["max"]!.GetValue<double>());
        Assert.Equal(300.0, latency["last"]!.GetValue<double>());
        Assert.Equal(1, log.Summary("b")["errors"]!.GetValue<long>());
        Assert.Equal(3.0, log.Summary("b")["latency_ms"]!["p50"]!.GetValue<double>()); // capped at the slowest call
        Assert.Equal(0, log.Summary("never")["calls"]!.GetValue<long>());
        Assert.Null(log.Summary("never")["latency_ms"]!["p50"]);
    }

    [Fact]
    public void Recent_KeepsTheLastCallsNewestFirst_InAFixedRing()
    {
        var time = new SteppedTime();
        var log = new CallLog(time);
        for (var i = 0; i < CallLog.RecentCapacity + 10; i++)
        {
            Call(log, time, "a", $"tool{i}", TimeSpan.FromMilliseconds(1));
        }

        var recent = log.Recent();
        Assert.Equal(CallLog.RecentCapacity, recent.Count);
        Assert.Equal($"tool{CallLog.RecentCapacity + 9}", recent[0].Tool);
        Assert.Equal("tool10", recent[^1].Tool);
        Assert.True(recent.Zip(recent.Skip(1)).All(p => p.First.AtTicks > p.Second.AtTicks));
    }
}
