using System.Net.Http.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Transports;

/// <summary>
/// Tells a server over Streamable HTTP that a request was cancelled, with <c>notifications/cancelled</c> and the id the
/// SDK gave the request. The SDK client (2.4.0, <c>McpSessionHandler.SendRequestAsync</c>) registers its own
/// notification only once the request's send has returned, and over Streamable HTTP the send returns with the answer:
/// a request cancelled before it only drops its POST. A session-era server must not take that for a cancellation
/// (2025-11-25 basic/transports: "Disconnection SHOULD NOT be interpreted as the client cancelling its request"), so its
/// work went on. The SDK exposes neither that id nor a hook on what its client sends; the id is read where the request
/// leaves — the HTTP request the SDK builds (<see cref="Handler"/>) — for the async flow <see cref="Watch"/> marked, and
/// the notification goes out through the SDK client like any other message. Should the cancel come between the send's
/// return and the answer's delivery, the SDK sends one too: two for a request already answered, which servers ignore
/// (basic/utilities/cancellation: "Invalid cancellation notifications SHOULD be ignored").
/// </summary>
internal static class HttpCancellation
{
    /// <summary>How long the notification may take; it is best effort (the caller has given up on the request already).</summary>
    public static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(5);

    private static readonly AsyncLocal<Sent?> s_watching = new();

    /// <summary>From here on, this async flow (and what it calls) notes the id of each request it sends over HTTP.</summary>
    public static Sent Watch() => s_watching.Value = new Sent();

    /// <summary>Sends <c>notifications/cancelled</c> for <paramref name="id"/>, waiting at most <see cref="SendTimeout"/> on <paramref name="time"/>; false when it could not be sent.</summary>
    public static async Task<bool> SendAsync(McpSession session, RequestId id, string reason, TimeProvider time)
    {
        using var cts = new CancellationTokenSource(SendTimeout, time);
        try
        {
            await session.SendNotificationAsync(NotificationMethods.CancelledNotification,
                new CancelledNotificationParams { RequestId = id, Reason = reason }, McpJsonUtilities.DefaultOptions, cts.Token);
            return true;
        }
        catch (Exception)
        {
            // Best effort, whatever the SDK or a handler throws (the connection has gone, the server does not answer,
            // its tokens were refused): the caller has its outcome already, and nothing is left to tell.
            return false;
        }
    }

    /// <summary>The last request a watched flow sent.</summary>
    public sealed class Sent
    {
        private RequestId _last; // one reference inside: written and read whole

        /// <summary>The id of the last request sent; null when none has left yet.</summary>
        public RequestId? Last => _last.Id is null ? null : _last;

        internal void Record(RequestId id) => _last = id;
    }

    /// <summary>Notes the id of every JSON-RPC request posted in a watched flow; passes everything on unchanged.</summary>
    public sealed class Handler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // The SDK posts each message as JsonContent over the message object itself: no bytes are read here.
            if (s_watching.Value is { } sent && request.Content is JsonContent { Value: JsonRpcRequest posted })
            {
                sent.Record(posted.Id);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
