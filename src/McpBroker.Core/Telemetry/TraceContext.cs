using System.Diagnostics;
using System.Text.Json.Nodes;

namespace McpBroker.Telemetry;

/// <summary>
/// W3C trace context carried in a request's <c>_meta</c> (<c>traceparent</c>, <c>tracestate</c>: MCP 2026-07-28,
/// basic/index, "_meta" → "OpenTelemetry trace context", reserved outside the <c>io.modelcontextprotocol/</c> prefix;
/// values in the W3C Trace Context format). A client request that carries one is served inside a
/// <see cref="RequestSpan"/> whose parent it names, so the broker's call and upstream spans join the client's trace;
/// the request the broker sends upstream carries the broker's current span as its parent, or, when the daemon records
/// no spans, the client's context unchanged (a hop that does not trace passes it on as it came).
/// </summary>
internal static class TraceContext
{
    public const string ParentKey = "traceparent";
    public const string StateKey = "tracestate";

    /// <summary>The span of one client request that came with a trace context.</summary>
    public const string RequestSpan = "mcp_broker.request";

    private static readonly AsyncLocal<Incoming?> s_incoming = new();

    internal sealed record Incoming(string Parent, string? State);

    /// <summary>
    /// Takes the trace context of a client request for the rest of its flow: a <see cref="RequestSpan"/> child of it
    /// when spans are recorded. Nothing happens for a request without a valid <c>traceparent</c>. Dispose at the end.
    /// </summary>
    public static Scope Enter(JsonObject? meta, string method)
    {
        if (meta?[ParentKey] is not JsonValue parentValue || !parentValue.TryGetValue<string>(out var parent)
            || !ActivityContext.TryParse(parent, null, isRemote: true, out _))
        {
            return default;
        }

        var state = meta[StateKey] is JsonValue stateValue && stateValue.TryGetValue<string>(out var s) ? s : null;
        var before = s_incoming.Value;
        s_incoming.Value = new Incoming(parent, state);
        Activity? span = null;
        if (BrokerTelemetry.Source.HasListeners() && ActivityContext.TryParse(parent, state, isRemote: true, out var context))
        {
            span = BrokerTelemetry.Source.StartActivity(RequestSpan, ActivityKind.Server, context);
            span?.SetTag("mcp.method.name", method);
        }

        return new Scope(before, span, restore: true);
    }

    /// <summary>
    /// <paramref name="meta"/> (created when null and needed) with the trace context an upstream request carries:
    /// the broker's current span when it records one, else the client's context as it came; unchanged when neither.
    /// </summary>
    public static JsonObject? Outgoing(JsonObject? meta)
    {
        string? parent = null;
        string? state = null;
        // Only the broker's own spans: an ASP.NET Core or SDK activity may belong to another trace (an HTTP header's).
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } current && current.Source == BrokerTelemetry.Source)
        {
            (parent, state) = (current.Id, current.TraceStateString);
        }
        else if (s_incoming.Value is { } incoming)
        {
            (parent, state) = (incoming.Parent, incoming.State);
        }

        if (parent is null)
        {
            return meta;
        }

        meta ??= [];
        meta[ParentKey] = parent;
        if (state is not null)
        {
            meta[StateKey] = state;
        }
        else
        {
            meta.Remove(StateKey);
        }

        return meta;
    }

    /// <summary>Ends a request's trace context (and its span) and restores what was before.</summary>
    public readonly struct Scope(Incoming? before, Activity? span, bool restore) : IDisposable
    {
        public void Dispose()
        {
            span?.Dispose();
            if (restore)
            {
                s_incoming.Value = before;
            }
        }
    }
}
