using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// A 2026-07-28 client's <c>subscriptions/listen</c> (MCP 2026-07-28, "Subscriptions", SEP-2575), served by the broker
/// rather than the SDK's built-in handler, which knows nothing of the upstreams: each resource it names is subscribed
/// through the same path as a 2025 client's <c>resources/subscribe</c> (so on a session-era upstream by
/// <c>resources/subscribe</c>, on a 2026-07-28 one by the broker's own listen stream to it), the list changes it asks for
/// are granted, the grant is acknowledged, and until the client cancels the request every resource update and list
/// change for it goes on that request's stream, tagged with its <c>subscriptionId</c> (the request's id).
/// </summary>
internal sealed partial class BrokerSession
{
    /// <summary>Cancelled when the client's input has ended (a socket session's; over HTTP the request's own token says so).</summary>
    public CancellationToken InputEnded { get; set; }

    private async ValueTask<EmptyResult> ListenAsync(RequestContext<SubscriptionsListenRequestParams> request, CancellationToken token)
    {
        var wanted = request.Params?.Notifications ?? new SubscriptionsListenNotifications();
        // The session is registered as a peer (over HTTP this request may be its first), but the held-open request does
        // not count as one in flight: the server a request to the client goes through is that of a call.
        Enter(request.Server).Dispose();
        var granted = new SubscriptionsListenNotifications
        {
            ToolsListChanged = wanted.ToolsListChanged == true ? true : null,
            PromptsListChanged = wanted.PromptsListChanged == true && !initial.CompactToolsEnabled ? true : null,
            ResourcesListChanged = wanted.ResourcesListChanged == true && !initial.CompactToolsEnabled ? true : null,
        };

        var subscribed = new List<string>();
        foreach (var uri in initial.CompactToolsEnabled ? [] : wanted.ResourceSubscriptions ?? [])
        {
            try
            {
                await services.Resources.SubscribeAsync(Profile, id, uri, subscribe: true, token);
                subscribed.Add(uri);
            }
            catch (McpException)
            {
                // Not granted: the acknowledgement leaves it out, which is how a client learns of it.
            }
        }

        granted.ResourceSubscriptions = subscribed.Count > 0 ? subscribed : null;
        var tag = request.JsonRpcRequest.Id.Id switch
        {
            string s => JsonValue.Create(s),
            long l => JsonValue.Create(l),
            _ => null,
        };

        async ValueTask<bool> SendAsync(string method, JsonNode? parameters)
        {
            var tagged = parameters?.DeepClone() as JsonObject ?? new JsonObject();
            var meta = tagged["_meta"] as JsonObject ?? new JsonObject();
            meta[MetaKeys.SubscriptionId] = tag?.DeepClone();
            tagged["_meta"] = meta;
            try
            {
                await request.Server.SendMessageAsync(new JsonRpcNotification { Method = method, Params = tagged }, CancellationToken.None);
                return true;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                return false;
            }
        }

        bool Grants(string method, JsonNode? parameters) => method switch
        {
            NotificationMethods.ResourceUpdatedNotification => parameters?["uri"] is JsonValue uri && subscribed.Contains(uri.ToString(), StringComparer.Ordinal),
            NotificationMethods.ToolListChangedNotification => granted.ToolsListChanged == true,
            NotificationMethods.PromptListChangedNotification => granted.PromptsListChanged == true,
            NotificationMethods.ResourceListChangedNotification => granted.ResourcesListChanged == true,
            _ => false,
        };

        var peer = _peer!;
        peer.Subscriptions = (method, parameters) => Grants(method, parameters) ? SendAsync(method, parameters) : ValueTask.FromResult(true);
        if (granted.ToolsListChanged == true)
        {
            _listedSignature ??= services.Facade.CurrentSignature(Profile);
        }

        try
        {
            await SendAsync(NotificationMethods.SubscriptionsAcknowledgedNotification,
                JsonSerializer.SerializeToNode(new SubscriptionsAcknowledgedNotificationParams { Notifications = granted },
                    McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(SubscriptionsAcknowledgedNotificationParams))));
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(token, InputEnded);
            await new TaskCompletionSource().Task.WaitAsync(ended.Token);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested || InputEnded.IsCancellationRequested)
        {
            // The client ended it, or went.
        }
        finally
        {
            peer.Subscriptions = null;
            foreach (var uri in subscribed)
            {
                try
                {
                    await services.Resources.SubscribeAsync(Profile, id, uri, subscribe: false, CancellationToken.None);
                }
                catch (McpException)
                {
                    // The upstream has gone; nothing is left to end.
                }
            }
        }

        return new EmptyResult();
    }
}
