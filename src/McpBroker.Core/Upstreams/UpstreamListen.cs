using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// Subscriptions to an upstream of the 2026-07-28 revision, which has no <c>resources/subscribe</c>: one
/// <c>subscriptions/listen</c> request held open (MCP 2026-07-28, "Subscriptions", SEP-2575: the client names the
/// resources and list changes it wants; the server acknowledges what it grants with
/// <c>notifications/subscriptions/acknowledged</c> and then streams those notifications until the request is cancelled).
/// Its filter is fixed when it opens, so a changed set of resources opens a new listen request, and the old one is
/// cancelled once the new one is acknowledged (an update may then come twice, never not at all).
/// </summary>
internal sealed class UpstreamListen : IDisposable
{
    private static long s_next;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private CancellationTokenSource? _open;

    /// <summary>Whether the upstream speaks the revision that replaced <c>resources/subscribe</c> with <c>subscriptions/listen</c>.</summary>
    public static bool Applies(McpClient client) => client.NegotiatedProtocolVersion is { Length: 10 } v && ProtocolMemory.IsStateless(v);

    /// <summary>
    /// Listens to <paramref name="uris"/> and to every list change the upstream declares; the resources it granted, once it
    /// acknowledged. An upstream that refuses or ends the request is an error, and the listen request before stays open.
    /// </summary>
    public async Task<IReadOnlyCollection<string>> ListenAsync(McpClient client, IReadOnlyCollection<string> uris, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var declared = client.ServerCapabilities;
            var id = $"mcp-broker-listen-{Interlocked.Increment(ref s_next)}";
            var acknowledged = new TaskCompletionSource<SubscriptionsListenNotifications>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var registration = client.RegisterNotificationHandler(NotificationMethods.SubscriptionsAcknowledgedNotification, (notification, _) =>
            {
                if (notification.Params?["_meta"]?[MetaKeys.SubscriptionId] is JsonValue tag && tag.ToString() == id
                    && notification.Params["notifications"]?.Deserialize(McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(SubscriptionsListenNotifications))) is SubscriptionsListenNotifications granted)
                {
                    acknowledged.TrySetResult(granted);
                }

                return ValueTask.CompletedTask;
            });

            var request = new SubscriptionsListenRequestParams
            {
                Notifications = new SubscriptionsListenNotifications
                {
                    ToolsListChanged = declared?.Tools?.ListChanged == true ? true : null,
                    PromptsListChanged = declared?.Prompts?.ListChanged == true ? true : null,
                    ResourcesListChanged = declared?.Resources?.ListChanged == true ? true : null,
                    ResourceSubscriptions = uris.Count > 0 ? [.. uris] : null,
                },
            };
            var open = new CancellationTokenSource();
            var listening = client.SendRequestAsync(new JsonRpcRequest
            {
                Id = new RequestId(id),
                Method = RequestMethods.SubscriptionsListen,
                Params = JsonSerializer.SerializeToNode(request, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(SubscriptionsListenRequestParams))),
            }, open.Token);
            _ = listening.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

            try
            {
                if (await Task.WhenAny(acknowledged.Task, listening).WaitAsync(ct) == listening)
                {
                    await listening;
                    throw new McpException("the upstream ended subscriptions/listen before acknowledging it");
                }
            }
            catch
            {
                await open.CancelAsync();
                open.Dispose();
                throw;
            }

            if (Interlocked.Exchange(ref _open, open) is { } before)
            {
                await before.CancelAsync();
                before.Dispose();
            }

            return [.. (await acknowledged.Task).ResourceSubscriptions ?? []];
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Ends the open listen request (the upstream is sent notifications/cancelled).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _open, null) is { } open)
        {
            open.Cancel();
            open.Dispose();
        }
    }
}
