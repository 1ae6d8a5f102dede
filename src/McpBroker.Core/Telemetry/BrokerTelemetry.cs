using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace McpBroker.Telemetry;

/// <summary>
/// The daemon's instruments and spans, under one name (<see cref="Name"/>) that OpenTelemetry subscribes to. With no
/// listener (telemetry off) an <c>Add</c>/<c>Record</c> returns at once and <see cref="Source"/> starts no activity, so
/// the call path pays nothing for them. Labels are upstream names and outcome words only: never tool arguments,
/// results, environment or headers.
/// </summary>
internal static class BrokerTelemetry
{
    public const string Name = "McpBroker";

    public const string SessionSpan = "mcp_broker.session";
    public const string CallSpan = "mcp_broker.call";
    public const string UpstreamSpan = "mcp_broker.upstream";

    public static readonly ActivitySource Source = new(Name, BrokerInfo.Version);

    public static readonly Meter Meter = new(Name, BrokerInfo.Version);

    public static readonly Counter<long> Calls = Meter.CreateCounter<long>("mcp_broker.calls", "{call}", "Tool calls relayed to upstreams, by upstream and outcome.");

    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("mcp_broker.call.errors", "{call}", "Tool calls that failed (a broker error or an isError result), by upstream and outcome.");

    public static readonly Histogram<double> Duration = Meter.CreateHistogram("mcp_broker.call.duration", "s", "Time a tool call took through the broker, by upstream.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] });

    public static readonly Counter<long> Restarts = Meter.CreateCounter<long>("mcp_broker.upstream.restarts", "{restart}", "Upstream instances started again after their first start.");

    /// <summary>One restart of <paramref name="upstream"/> (an instance started after the first).</summary>
    public static void Restarted(string upstream) => Restarts.Add(1, new KeyValuePair<string, object?>("upstream", upstream));

    /// <summary>
    /// A span for a client session (null when no one listens): the parent of the calls made within it where the
    /// transport runs them in the session's flow (socket sessions).
    /// </summary>
    public static Activity? StartSession(string sessionId, string profile, string client)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity(SessionSpan, ActivityKind.Server);
        activity?.SetTag("mcp_broker.session.id", sessionId);
        activity?.SetTag("mcp_broker.profile", profile);
        activity?.SetTag("mcp_broker.client", client);
        return activity;
    }
}
