using McpBroker.Tests.Support;
using McpBroker.Upstreams;
using Microsoft.Extensions.Time.Testing;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// The idle timer of an instance on a fake clock: when the timeout has passed, how a use postpones it, how often it looks.
/// (Stopping a real idle instance: <see cref="UpstreamSupervisorTests"/>.)
/// </summary>
public sealed class IdleWatchTests
{
    [Fact]
    public void Elapsed_OnlyOnceTheWholeTimeoutPassedSinceTheLastUse_AndATouchStartsItAfresh()
    {
        var clock = new FakeTimeProvider();
        var idle = new IdleWatch(TimeSpan.FromMinutes(10), clock);

        clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(1));
        var justBefore = idle.Elapsed;
        clock.Advance(TimeSpan.FromTicks(1));
        var atTimeout = idle.Elapsed;
        idle.Touch();
        var touchedAt = clock.GetUtcNow();
        var afterTouch = idle.Elapsed;
        clock.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal((false, true, false, true), (justBefore, atTimeout, afterTouch, idle.Elapsed));
        Assert.Equal(touchedAt, idle.LastUsed);
    }

    [Fact]
    public void LastUsed_BeforeAnyUse_IsWhenTheWatchWasMade()
    {
        var clock = new FakeTimeProvider();
        var made = clock.GetUtcNow();
        var idle = new IdleWatch(TimeSpan.FromMinutes(1), clock);
        clock.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(made, idle.LastUsed);
    }

    [Theory]
    [InlineData(600_000, 30_000)] // a quarter would be 150 s: at most every 30 s
    [InlineData(60_000, 15_000)]
    [InlineData(200, 100)] // a quarter would be 50 ms: at least 100 ms apart
    public void Period_IsAQuarterOfTheTimeout_Between100MillisecondsAnd30Seconds(int timeoutMs, int periodMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(periodMs), new IdleWatch(TimeSpan.FromMilliseconds(timeoutMs), new FakeTimeProvider()).Period);

    [Fact]
    public async Task WatchAsync_StepByStep_RunsWhenIdleNotBeforeTheTimeout_AndEndsWhenCancelled()
    {
        var clock = new FakeTimeProvider();
        var start = clock.GetUtcNow();
        var idle = new IdleWatch(TimeSpan.FromMinutes(1), clock);
        var calledAt = new List<DateTimeOffset>();
        using var stop = new CancellationTokenSource();
        var watch = idle.WatchAsync(() =>
        {
            lock (calledAt)
            {
                calledAt.Add(clock.GetUtcNow());
            }

            return Task.CompletedTask;
        }, stop.Token);

        await Wait.UntilAsync(
            () =>
            {
                lock (calledAt)
                {
                    if (calledAt.Count > 0)
                    {
                        return true;
                    }
                }

                clock.Advance(idle.Period);
                return false;
            },
            "the idle watch to find the instance idle");
        await stop.CancelAsync();
        await watch.WaitAsync(Wait.Timeout);

        Assert.True(calledAt[0] - start >= TimeSpan.FromMinutes(1), $"called after {calledAt[0] - start}");
        Assert.True(watch.IsCompletedSuccessfully);
    }
}
