namespace McpBroker.Upstreams;

/// <summary>
/// An upstream's <c>max_concurrency</c> and <c>max_queue</c>: at most that many requests run on it at once and at most
/// that many wait for a slot; a request beyond both is refused at once rather than queued without bound. Without
/// <c>max_concurrency</c> there is no gate and every request runs at once.
/// </summary>
internal sealed class ConcurrencyGate(int? maxConcurrency, int maxQueue) : IDisposable
{
    private readonly SemaphoreSlim? _slots = maxConcurrency is { } max ? new SemaphoreSlim(max, max) : null;
    private int _queued;

    /// <summary>Requests waiting for a slot now.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Every slot taken and the queue full: a new request is to be refused.</summary>
    public bool Full => _slots is { CurrentCount: 0 } && Queued >= maxQueue;

    /// <summary>
    /// Waits for a slot; true when one was taken (give it back with <see cref="Release"/>), false when there is no gate.
    /// Throws <see cref="OperationCanceledException"/> when <paramref name="ct"/> ends the wait.
    /// </summary>
    public async Task<bool> EnterAsync(CancellationToken ct)
    {
        if (_slots is null)
        {
            return false;
        }

        Interlocked.Increment(ref _queued);
        try
        {
            await _slots.WaitAsync(ct);
            return true;
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
        }
    }

    public void Release() => _slots!.Release();

    public void Dispose() => _slots?.Dispose();
}
