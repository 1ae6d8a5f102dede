using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using McpBroker.Telemetry;

namespace McpBroker.Bench;

/// <summary>
/// What the status page's and the metrics' bookkeeping adds to one tool call: <see cref="CallLog.Record"/> (per
/// upstream counters, latency buckets, the recent-calls ring, the meter's instruments) and the two spans, with nobody
/// listening (telemetry off) and with a listener on every instrument and span (as when OTLP or /metrics is on).
/// Budget: a small part of the ≤ 100 µs the broker may add per call, and no allocation when off.
/// </summary>
[MemoryDiagnoser]
public class CallRecording
{
    private readonly CallLog _log = new(TimeProvider.System);
    private MeterListener? _meters;
    private ActivityListener? _spans;

    [Params(false, true)]
    public bool Listening { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (!Listening)
        {
            return;
        }

        _meters = new MeterListener { InstrumentPublished = (instrument, listener) => { if (instrument.Meter.Name == BrokerTelemetry.Name) { listener.EnableMeasurementEvents(instrument); } } };
        _meters.SetMeasurementEventCallback<long>((_, _, _, _) => { });
        _meters.SetMeasurementEventCallback<double>((_, _, _, _) => { });
        _meters.Start();
        _spans = new ActivityListener { ShouldListenTo = s => s.Name == BrokerTelemetry.Name, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(_spans);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _meters?.Dispose();
        _spans?.Dispose();
    }

    [Benchmark]
    public void Record() => _log.Record("raw", "everything", "echo", _log.Time.GetTimestamp(), CallLog.Ok);

    [Benchmark]
    public void RecordWithSpans()
    {
        using var call = BrokerTelemetry.Source.StartActivity(BrokerTelemetry.CallSpan);
        call?.SetTag("mcp_broker.tool", "everything.echo");
        using var upstream = BrokerTelemetry.Source.StartActivity(BrokerTelemetry.UpstreamSpan, ActivityKind.Client);
        upstream?.SetTag("mcp_broker.upstream", "everything");
        _log.Record("raw", "everything", "echo", _log.Time.GetTimestamp(), CallLog.Ok);
    }
}
