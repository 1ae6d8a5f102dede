using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace McpBroker.Upstreams;

/// <summary>
/// Resource subscriptions: who holds which is <see cref="ResourceSubscriptions"/>'s; this part subscribes and
/// unsubscribes the instance (by <c>resources/subscribe</c>, or by the listen stream of a 2026-07-28 upstream), renews
/// them on every new instance, and ends those of a session that has gone.
/// </summary>
internal sealed partial class UpstreamSupervisor
{
    private readonly UpstreamListen _listen = new();

    /// <summary>
    /// Subscribes a session to a resource's updates: the first subscriber subscribes upstream, later ones join; the
    /// updates go to every subscribed session. An instance with subscriptions is not stopped for being idle.
    /// </summary>
    public Task<Outcome<bool>> SubscribeAsync(string sessionId, string uri, CancellationToken ct) =>
        _subscriptions.SubscribeAsync(sessionId, uri, token => RequestAsync(sessionId, retryable: true, async (client, t) =>
        {
            await SubscribeAsync(client, uri, t);
            return true;
        }, token), ct);

    /// <summary>Ends a session's subscription; the last one out unsubscribes upstream (when the instance still runs).</summary>
    public Task<Outcome<bool>> UnsubscribeAsync(string sessionId, string uri, CancellationToken ct) =>
        _subscriptions.UnsubscribeAsync(sessionId, uri, () => Running() is not null, token => RequestAsync(sessionId, retryable: true, async (client, t) =>
        {
            await UnsubscribeAsync(client, uri, t);
            return true;
        }, token), ct);

    /// <summary>A session has ended: its subscriptions go, and those nobody else holds are ended upstream (best effort).</summary>
    private Task DropSubscriptionsAsync(string sessionId, string[] uris) =>
        _subscriptions.DropAsync(sessionId, uris, async uri =>
        {
            if (Running() is { } instance)
            {
                try
                {
                    using var cts = new CancellationTokenSource(Model.CallTimeout, _time);
                    await UnsubscribeAsync(instance.Client, uri, cts.Token);
                }
                catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
                {
                    // The upstream may have gone; nothing is left to end.
                }
            }
        });

    /// <summary>A new instance knows nothing of the last one's subscriptions: subscribe it to every URI someone still holds.</summary>
    private async Task ResubscribeAsync(UpstreamInstance instance)
    {
        if (UpstreamListen.Applies(instance.Client))
        {
            // Its list changes too come only on a listen stream: one is open from its start.
            try
            {
                using var cts = new CancellationTokenSource(Model.CallTimeout, _time);
                await _listen.ListenAsync(instance.Client, _subscriptions.Uris(), cts.Token);
            }
            catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
            {
                Log.ResubscribeFailed(_logger, Model.Name, ex.GetType().Name);
            }

            return;
        }

        foreach (var uri in _subscriptions.Uris())
        {
            try
            {
                using var cts = new CancellationTokenSource(Model.CallTimeout, _time);
                await instance.Client.SubscribeToResourceAsync(uri, cancellationToken: cts.Token);
            }
            catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
            {
                Log.ResubscribeFailed(_logger, Model.Name, ex.GetType().Name);
            }
        }
    }

    /// <summary>
    /// Subscribes the instance to a resource: by <c>resources/subscribe</c>, or on an upstream of the 2026-07-28 revision
    /// (which has no such method) by its listen stream, reopened for every URI held and this one (<see cref="UpstreamListen"/>).
    /// </summary>
    private async Task SubscribeAsync(McpClient client, string uri, CancellationToken ct)
    {
        if (!UpstreamListen.Applies(client))
        {
            await client.SubscribeToResourceAsync(uri, cancellationToken: ct);
            return;
        }

        string[] uris = [.. _subscriptions.Uris().Append(uri).Distinct(StringComparer.Ordinal)];
        if (!(await _listen.ListenAsync(client, uris, ct)).Contains(uri, StringComparer.Ordinal))
        {
            throw new McpProtocolException($"upstream '{Model.Name}' did not grant a subscription to {uri}", McpErrorCode.InvalidParams);
        }
    }

    /// <summary>Ends the instance's subscription to a resource nobody holds any more (see <see cref="SubscribeAsync(McpClient, string, CancellationToken)"/>).</summary>
    private async Task UnsubscribeAsync(McpClient client, string uri, CancellationToken ct)
    {
        if (!UpstreamListen.Applies(client))
        {
            await client.UnsubscribeFromResourceAsync(uri, cancellationToken: ct);
            return;
        }

        await _listen.ListenAsync(client, _subscriptions.Uris(), ct);
    }
}
