using System.Diagnostics.Metrics;
using McpBroker.Config;
using McpBroker.Sessions;
using McpBroker.Telemetry;
using McpBroker.Upstreams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace McpBroker.Daemon;

/// <summary>
/// Wires OpenTelemetry into the daemon when <c>telemetry</c> is set: the <see cref="BrokerTelemetry"/> meter and
/// spans, exported over OTLP (metrics every export_interval, spans in batches) and/or read by the status page's
/// <c>/metrics</c>. Without the section nothing subscribes, and the instruments cost nothing. Only called when the
/// section is set: a daemon without it never touches an OpenTelemetry type, so their assemblies are never loaded.
/// </summary>
internal static class TelemetrySetup
{
    public static void Add(IServiceCollection services, TelemetryModel telemetry)
    {
        services.AddHostedService<Gauges>();
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("mcp-broker", serviceVersion: BrokerInfo.Version, serviceInstanceId: Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BrokerTelemetry.Name);
                if (telemetry.OtlpEndpoint is { } endpoint)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        Configure(exporter, endpoint, telemetry.OtlpProtocol, "v1/metrics");
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.ExportInterval.TotalMilliseconds;
                    });
                }

                if (telemetry.Prometheus)
                {
                    metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                }
            });
        if (telemetry.OtlpEndpoint is { } traces)
        {
            otel.WithTracing(tracing => tracing
                .AddSource(BrokerTelemetry.Name)
                .AddOtlpExporter(exporter => Configure(exporter, traces, telemetry.OtlpProtocol, "v1/traces")));
        }
    }

    /// <summary>OTLP/HTTP wants the signal's own path; the exporter appends it only to an endpoint set through the environment.</summary>
    private static void Configure(OtlpExporterOptions exporter, Uri endpoint, OtlpProtocolSetting protocol, string signalPath)
    {
        if (protocol == OtlpProtocolSetting.Grpc)
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
            exporter.Endpoint = endpoint;
            return;
        }

        exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
        exporter.Endpoint = new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/" + signalPath);
    }

    /// <summary>The gauges read from live state when a reader collects: sessions, and requests queued per upstream.</summary>
    private sealed class Gauges : IHostedService, IDisposable
    {
        private readonly Meter _meter = new(BrokerTelemetry.Name, BrokerInfo.Version);

        public Gauges(ClientPeers peers, UpstreamRegistry registry)
        {
            _meter.CreateObservableUpDownCounter("mcp_broker.sessions", () => peers.All.Count(), "{session}", "Client sessions connected now.");
            _meter.CreateObservableGauge("mcp_broker.queue.depth",
                () => registry.Models.Select(m => new Measurement<int>(registry.Queued(m.Name), new KeyValuePair<string, object?>("upstream", m.Name))),
                "{request}", "Requests waiting for a free slot (max_concurrency), by upstream.");
            _meter.CreateObservableGauge("mcp_broker.upstream.instances",
                () => registry.Models.Select(m => new Measurement<int>(registry.Instances(m.Name), new KeyValuePair<string, object?>("upstream", m.Name))),
                "{instance}", "Running instances, by upstream.");
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose() => _meter.Dispose();
    }
}
