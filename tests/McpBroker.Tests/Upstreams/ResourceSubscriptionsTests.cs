using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>One upstream subscription per URI: the first subscriber subscribes upstream, the last one out unsubscribes.</summary>
public sealed class ResourceSubscriptionsTests
{
    private readonly List<string> _upstream = [];

    private Func<CancellationToken, Task<Outcome<bool>>> Upstream(string call, bool ok = true) => _ =>
    {
        _upstream.Add(call);
        return Task.FromResult<Outcome<bool>>(ok ? true : new BrokerError(BrokerErrorCode.UpstreamError, "refused", ""));
    };

    [Fact]
    public async Task SubscribeAsync_FirstSubscribesUpstream_LaterOnesJoin()
    {
        var subscriptions = new ResourceSubscriptions();

        Assert.True((await subscriptions.SubscribeAsync("a", "file:///x", Upstream("subscribe"), CancellationToken.None)).Ok);
        Assert.True((await subscriptions.SubscribeAsync("b", "file:///x", Upstream("subscribe"), CancellationToken.None)).Ok);

        Assert.Equal(["subscribe"], _upstream);
        Assert.Equal(["a", "b"], subscriptions.SubscribersOf("file:///x").Order());
        Assert.Equal(["file:///x"], subscriptions.Uris());
        Assert.True(subscriptions.Any);
    }

    [Fact]
    public async Task SubscribeAsync_UpstreamRefuses_NothingIsHeld()
    {
        var subscriptions = new ResourceSubscriptions();

        var outcome = await subscriptions.SubscribeAsync("a", "file:///x", Upstream("subscribe", ok: false), CancellationToken.None);

        Assert.False(outcome.Ok);
        Assert.False(subscriptions.Any);
        Assert.Empty(subscriptions.SubscribersOf("file:///x"));
    }

    [Fact]
    public async Task UnsubscribeAsync_OnlyTheLastOneOut_UnsubscribesUpstream_AndOnlyWhileItRuns()
    {
        var subscriptions = new ResourceSubscriptions();
        await subscriptions.SubscribeAsync("a", "file:///x", Upstream("subscribe"), CancellationToken.None);
        await subscriptions.SubscribeAsync("b", "file:///x", Upstream("subscribe"), CancellationToken.None);
        await subscriptions.SubscribeAsync("a", "file:///y", Upstream("subscribe y"), CancellationToken.None);

        await subscriptions.UnsubscribeAsync("a", "file:///x", () => true, Upstream("unsubscribe"), CancellationToken.None);
        await subscriptions.UnsubscribeAsync("c", "file:///x", () => true, Upstream("unsubscribe"), CancellationToken.None);
        Assert.DoesNotContain("unsubscribe", _upstream);

        await subscriptions.UnsubscribeAsync("b", "file:///x", () => true, Upstream("unsubscribe"), CancellationToken.None);
        await subscriptions.UnsubscribeAsync("a", "file:///y", () => false, Upstream("unsubscribe y"), CancellationToken.None);

        Assert.Equal(["subscribe", "subscribe y", "unsubscribe"], _upstream);
        Assert.False(subscriptions.Any);
    }

    [Fact]
    public async Task DropAsync_EndedSession_LeavesWhatOthersHold_AndEndsTheRestUpstream()
    {
        var subscriptions = new ResourceSubscriptions();
        await subscriptions.SubscribeAsync("a", "file:///shared", Upstream("subscribe"), CancellationToken.None);
        await subscriptions.SubscribeAsync("b", "file:///shared", Upstream("subscribe"), CancellationToken.None);
        await subscriptions.SubscribeAsync("a", "file:///own", Upstream("subscribe"), CancellationToken.None);
        var ended = new List<string>();

        await subscriptions.DropAsync("a", subscriptions.HeldBy("a"), uri =>
        {
            ended.Add(uri);
            return Task.CompletedTask;
        });

        Assert.Equal(["file:///own"], ended);
        Assert.Equal(["b"], subscriptions.SubscribersOf("file:///shared"));
        Assert.Empty(subscriptions.HeldBy("a"));
    }
}
