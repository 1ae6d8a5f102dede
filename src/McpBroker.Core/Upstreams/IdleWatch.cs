namespace McpBroker.Upstreams;

/// <summary>
/// When an upstream instance was last used, and whether it has been idle for its <c>idle_timeout</c>: checked every
/// quarter of the timeout (at least every 100 ms, at most every 30 s). It knows nothing of instances: its owner says
/// what keeps one busy (requests in flight, subscriptions) and what stopping it means. Time comes from the
/// <see cref="TimeProvider"/>, so it is tested with a fake clock.
/// </summary>
internal sealed class IdleWatch(TimeSpan timeout, TimeProvider time)
{
    private long _lastUsedTicks = time.GetUtcNow().UtcTicks;

    /// <summary>When a request last began or ended (when the watch was made, before any).</summary>
    public DateTimeOffset LastUsed => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);

    /// <summary>How often <see cref="WatchAsync"/> looks.</summary>
    public TimeSpan Period => TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond * 30));

    /// <summary>True when nothing has used the instance for the whole timeout.</summary>
    public bool Elapsed => time.GetUtcNow() - LastUsed >= timeout;

    /// <summary>A request begins or ends now.</summary>
    public void Touch() => Interlocked.Exchange(ref _lastUsedTicks, time.GetUtcNow().UtcTicks);

    /// <summary>Every <see cref="Period"/> until <paramref name="ct"/> is cancelled: runs <paramref name="whenIdle"/> if the timeout has <see cref="Elapsed"/>.</summary>
    public async Task WatchAsync(Func<Task> whenIdle, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (Elapsed)
                {
                    await whenIdle();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
