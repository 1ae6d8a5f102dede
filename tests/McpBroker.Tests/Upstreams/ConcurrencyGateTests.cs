using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>max_concurrency and max_queue: requests beyond both are refused at once, a freed slot goes to the one waiting.</summary>
public sealed class ConcurrencyGateTests
{
    [Fact]
    public async Task EnterAsync_SlotsTakenAndQueueFull_IsFull_UntilASlotIsReleased()
    {
        using var gate = new ConcurrencyGate(maxConcurrency: 1, maxQueue: 1);
        Assert.True(await gate.EnterAsync(CancellationToken.None));
        Assert.False(gate.Full);

        var waiting = gate.EnterAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(1, gate.Queued);
        Assert.True(gate.Full);

        gate.Release();
        Assert.True(await waiting);
        Assert.Equal(0, gate.Queued);
        Assert.False(gate.Full);
    }

    [Fact]
    public async Task EnterAsync_Cancelled_LeavesTheQueue()
    {
        using var gate = new ConcurrencyGate(maxConcurrency: 1, maxQueue: 5);
        await gate.EnterAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var waiting = gate.EnterAsync(cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, gate.Queued);
    }

    [Fact]
    public async Task EnterAsync_WithoutMaxConcurrency_NeverWaitsOrFills()
    {
        using var gate = new ConcurrencyGate(maxConcurrency: null, maxQueue: 0);

        Assert.False(await gate.EnterAsync(CancellationToken.None));
        Assert.False(gate.Full);
    }
}
