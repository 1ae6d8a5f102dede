using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;

namespace McpBroker.Telemetry;

/// <summary>
/// One finished tool call as the status page shows it: which client and tool, how long, how it ended (a refused call too:
/// the error code, no time). Never its arguments or result.
/// </summary>
internal readonly record struct CallRecord(long AtTicks, string Profile, string Upstream, string Tool, long ElapsedTicks, string Outcome, string? Client = null, bool Refused = false);

/// <summary>
/// What the status page, <c>mcp-broker top</c> and the metrics know about calls: per upstream counters and a latency
/// histogram (lock-free), and the last <see cref="RecentCapacity"/> calls in a fixed ring. Recording a call allocates
/// nothing once its upstream has been seen; the ring's lock is held only to copy one record in or the ring out.
/// </summary>
internal sealed class CallLog(TimeProvider time)
{
    public const int RecentCapacity = 64;

    public const string Ok = "ok";

    /// <summary>The upstream answered with an isError result (the call itself went through).</summary>
    public const string ToolError = "tool_error";

    private readonly ConcurrentDictionary<string, UpstreamCalls> _upstreams = new(StringComparer.Ordinal);
    private readonly CallRecord[] _recent = new CallRecord[RecentCapacity];
    private readonly Lock _recentGate = new();
    private long _recorded;

    public TimeProvider Time => time;

    /// <summary>
    /// The client a session's tool call comes from (its MCP clientInfo name, else the name its shim gave), set by the
    /// session around each call so the recent calls can say who made them without threading it through the facade.
    /// </summary>
    public static readonly AsyncLocal<string?> Client = new();

    /// <summary>Counts a finished call; <paramref name="startTimestamp"/> is a <see cref="TimeProvider.GetTimestamp"/>.</summary>
    public void Record(string profile, string upstream, string tool, long startTimestamp, string outcome, string? client = null)
    {
        var elapsed = time.GetElapsedTime(startTimestamp);
        var stats = _upstreams.GetOrAdd(upstream, static _ => new UpstreamCalls());
        var failed = !ReferenceEquals(outcome, Ok);
        stats.Add(elapsed, failed);

        var upstreamTag = new KeyValuePair<string, object?>("upstream", upstream);
        var outcomeTag = new KeyValuePair<string, object?>("outcome", outcome);
        BrokerTelemetry.Calls.Add(1, upstreamTag, outcomeTag);
        if (failed)
        {
            BrokerTelemetry.Errors.Add(1, upstreamTag, outcomeTag);
        }

        BrokerTelemetry.Duration.Record(elapsed.TotalSeconds, upstreamTag);

        Keep(new CallRecord(time.GetUtcNow().UtcTicks, profile, upstream, tool, elapsed.Ticks, outcome, Client.Value ?? client));
    }

    /// <summary>
    /// A call the broker refused before any upstream saw it (a mutating tool not allowed, a quarantined or unknown one):
    /// shown among the recent calls with its error code; the upstream's counters and the metrics count only calls it got.
    /// </summary>
    public void Refused(string profile, string upstream, string tool, string outcome, string? client) =>
        Keep(new CallRecord(time.GetUtcNow().UtcTicks, profile, upstream, tool, 0, outcome, Client.Value ?? client, Refused: true));

    private void Keep(CallRecord record)
    {
        lock (_recentGate)
        {
            _recent[_recorded++ % RecentCapacity] = record;
        }
    }

    /// <summary>The last calls, newest first.</summary>
    public IReadOnlyList<CallRecord> Recent()
    {
        lock (_recentGate)
        {
            var count = (int)Math.Min(_recorded, RecentCapacity);
            var list = new CallRecord[count];
            for (var i = 0; i < count; i++)
            {
                list[i] = _recent[(_recorded - 1 - i) % RecentCapacity];
            }

            return list;
        }
    }

    /// <summary>Calls, errors and latency of an upstream (zeros before its first call).</summary>
    public JsonObject Summary(string upstream) => _upstreams.TryGetValue(upstream, out var stats) ? stats.ToJson() : UpstreamCalls.Empty();

    /// <summary>
    /// Counters and a latency histogram with power-of-two buckets from 64 µs (bucket i holds calls up to 64·2^i µs), so
    /// percentiles are read to within a factor of two without storing any sample.
    /// </summary>
    private sealed class UpstreamCalls
    {
        private const int Buckets = 24;
        private const long FirstBucketTicks = 64 * TimeSpan.TicksPerMicrosecond;
        private readonly long[] _buckets = new long[Buckets];
        private long _calls;
        private long _errors;
        private long _totalTicks;
        private long _lastTicks;
        private long _maxTicks;

        public void Add(TimeSpan elapsed, bool failed)
        {
            Interlocked.Increment(ref _calls);
            if (failed)
            {
                Interlocked.Increment(ref _errors);
            }

            Interlocked.Add(ref _totalTicks, elapsed.Ticks);
            Interlocked.Exchange(ref _lastTicks, elapsed.Ticks);
            var max = Interlocked.Read(ref _maxTicks);
            while (elapsed.Ticks > max && Interlocked.CompareExchange(ref _maxTicks, elapsed.Ticks, max) is var seen && seen != max)
            {
                max = seen;
            }

            var bucket = elapsed.Ticks <= FirstBucketTicks ? 0 : Math.Min(Buckets - 1, 64 - long.LeadingZeroCount((elapsed.Ticks - 1) / FirstBucketTicks));
            Interlocked.Increment(ref _buckets[bucket]);
        }

        public JsonObject ToJson()
        {
            var calls = Interlocked.Read(ref _calls);
            return new JsonObject
            {
                ["calls"] = calls,
                ["errors"] = Interlocked.Read(ref _errors),
                ["latency_ms"] = new JsonObject
                {
                    ["avg"] = calls == 0 ? null : Ms(Interlocked.Read(ref _totalTicks) / calls),
                    ["p50"] = Percentile(calls, 0.50),
                    ["p95"] = Percentile(calls, 0.95),
                    ["last"] = calls == 0 ? null : Ms(Interlocked.Read(ref _lastTicks)),
                    ["max"] = calls == 0 ? null : Ms(Interlocked.Read(ref _maxTicks)),
                },
            };
        }

        public static JsonObject Empty() => new()
        {
            ["calls"] = 0L,
            ["errors"] = 0L,
            ["latency_ms"] = new JsonObject { ["avg"] = null, ["p50"] = null, ["p95"] = null, ["last"] = null, ["max"] = null },
        };

        /// <summary>The upper bound of the bucket the percentile falls in (never above the slowest call seen).</summary>
        private double? Percentile(long calls, double fraction)
        {
            if (calls == 0)
            {
                return null;
            }

            var rank = (long)Math.Ceiling(calls * fraction);
            long seen = 0;
            for (var i = 0; i < Buckets; i++)
            {
                seen += Interlocked.Read(ref _buckets[i]);
                if (seen >= rank)
                {
                    return Ms(Math.Min(FirstBucketTicks << i, Interlocked.Read(ref _maxTicks)));
                }
            }

            return Ms(Interlocked.Read(ref _maxTicks));
        }
    }

    public static double Ms(long ticks) => Math.Round((double)ticks / TimeSpan.TicksPerMillisecond, 3);
}
