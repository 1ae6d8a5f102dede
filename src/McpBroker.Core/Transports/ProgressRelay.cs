using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

namespace McpBroker.Transports;

/// <summary>
/// Delivers an upstream's <c>notifications/progress</c> to the session whose call asked for it, in the order the
/// upstream sent them and before the call's result. The SDK hands incoming notifications to handlers concurrently
/// (they arrive reordered, and those after the response are dropped), so progress is read where the bytes come in:
/// <see cref="Tap"/> wraps a stdio upstream's output and <see cref="Handler"/> the HTTP responses, and each progress
/// line whose token the broker issued is awaited into its route before the SDK sees anything after it. A stdio tap also
/// hands its upstream's log lines (<c>notifications/message</c>) to the supervisor, in order, the same way.
/// </summary>
internal static class ProgressRelay
{
    private const string TokenPrefix = "mcp-broker-progress-";

    private static readonly byte[] MethodBytes = Encoding.UTF8.GetBytes("\"notifications/progress\"");
    private static readonly byte[] TokenPrefixBytes = Encoding.UTF8.GetBytes(TokenPrefix);
    private static readonly byte[] LogMethod = Encoding.UTF8.GetBytes("\"notifications/message\"");

    private static readonly ConcurrentDictionary<string, Func<JsonObject, ValueTask>> s_routes = new(StringComparer.Ordinal);
    private static long s_next;

    /// <summary>A progress token for one upstream request, routed to <paramref name="route"/> until the lease is disposed.</summary>
    public static Lease Open(Func<JsonObject, ValueTask> route)
    {
        var token = TokenPrefix + Interlocked.Increment(ref s_next).ToString(System.Globalization.CultureInfo.InvariantCulture);
        s_routes[token] = route;
        return new Lease(token);
    }

    /// <summary>Taps a stdio upstream's output; <paramref name="onLog"/> also gets its log messages, in order.</summary>
    public static Stream Tap(Stream upstreamOutput, Func<JsonObject, ValueTask>? onLog = null) => new TapStream(upstreamOutput, onLog: onLog);

    /// <summary>Delivers a line (one JSON-RPC message, or an SSE <c>data:</c> line) if it is progress for a route of ours.</summary>
    internal static async ValueTask InspectAsync(ReadOnlyMemory<byte> line, Func<JsonObject, ValueTask>? onLog = null)
    {
        var span = line.Span;
        if (onLog is not null && span.IndexOf(LogMethod) >= 0 && Parameters(line) is { } log)
        {
            await DeliverAsync(onLog, log);
            return;
        }

        if (span.IndexOf(MethodBytes) < 0 || span.IndexOf(TokenPrefixBytes) < 0)
        {
            return;
        }

        if (Parameters(line) is { } parameters
            && parameters["progressToken"]?.GetValueKind() == System.Text.Json.JsonValueKind.String
            && s_routes.TryGetValue(parameters["progressToken"]!.GetValue<string>(), out var route))
        {
            await DeliverAsync(route, parameters);
        }
    }

    private static JsonObject? Parameters(ReadOnlyMemory<byte> line)
    {
        var start = line.Span.IndexOf((byte)'{');
        try
        {
            return start < 0 ? null : JsonNode.Parse(line.Span[start..])?["params"] as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null; // not ours to judge: the SDK reports malformed messages
        }
    }

    private static async ValueTask DeliverAsync(Func<JsonObject, ValueTask> route, JsonObject parameters)
    {
        try
        {
            await route(parameters);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The session that asked has gone; the upstream's stream must keep flowing for everyone else.
        }
    }

    public readonly struct Lease(string token) : IDisposable
    {
        public string Token => token;

        public void Dispose() => s_routes.TryRemove(token, out _);
    }

    /// <summary>For HTTP upstreams: SSE response bodies (streamable HTTP's and the legacy SSE stream) are tapped the same way.</summary>
    public sealed class Handler() : DelegatingHandler(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) })
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
            {
                var inner = response.Content;
                var tapped = new StreamContent(new TapStream(await inner.ReadAsStreamAsync(cancellationToken), inner));
                foreach (var header in inner.Headers)
                {
                    tapped.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }

                response.Content = tapped;
            }

            return response;
        }
    }

    /// <summary>Passes every byte through unchanged; each complete line is inspected (in order) before it is handed on.</summary>
    private sealed class TapStream(Stream inner, IDisposable? owner = null, Func<JsonObject, ValueTask>? onLog = null) : ReadOnlyStream
    {
        /// <summary>Progress notifications are small: a longer line (a big result) is passed on without being kept.</summary>
        private const int MaxInspected = 16 * 1024;

        private readonly MemoryStream _line = new();
        private bool _skipping;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            var data = buffer[..read];
            while (data.Length > 0)
            {
                var newline = data.Span.IndexOf((byte)'\n');
                var end = newline < 0 ? data.Length : newline;
                if (!_skipping && _line.Length + end <= MaxInspected)
                {
                    _line.Write(data.Span[..end]);
                }
                else
                {
                    _skipping = true;
                    _line.SetLength(0);
                }

                if (newline < 0)
                {
                    break;
                }

                if (!_skipping)
                {
                    await InspectAsync(_line.GetBuffer().AsMemory(0, (int)_line.Length), onLog);
                }

                _line.SetLength(0);
                _skipping = false;
                data = data[(newline + 1)..];
            }

            return read;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                owner?.Dispose();
                _line.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
