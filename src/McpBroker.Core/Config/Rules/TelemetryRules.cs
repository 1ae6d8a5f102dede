namespace McpBroker.Config;

/// <summary><c>telemetry</c>: the OTLP endpoint (no credentials in it), export interval and Prometheus text.</summary>
internal sealed class TelemetryRules : IConfigRules
{
    public void Validate(ConfigValidationContext context) =>
        context.Telemetry = ValidateTelemetry(context.Config.Telemetry, context.Config.Broker?.StatusPage is not null, context.Issues);

    private static TelemetryModel? ValidateTelemetry(TelemetryConfig? telemetry, bool statusPage, List<ConfigIssue> issues)
    {
        if (telemetry is null)
        {
            return null;
        }

        Uri? endpoint = null;
        if (telemetry.OtlpEndpoint is { } raw)
        {
            if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                issues.Add(ConfigIssue.Error("telemetry.otlp_endpoint", $"'{raw}' is not an http(s) URL, e.g. http://127.0.0.1:4318"));
            }
            else if (uri.UserInfo.Length > 0 || uri.Query.Length > 0)
            {
                // The value is not repeated: it may hold a credential.
                issues.Add(ConfigIssue.Error("telemetry.otlp_endpoint", "must carry no user name, password or query (they would be a secret in the config); use a receiver on this machine that forwards with its own credentials"));
            }
            else
            {
                endpoint = uri;
            }
        }

        var interval = telemetry.ExportInterval?.Value ?? TelemetryModel.DefaultExportInterval;
        if (interval < TimeSpan.FromMilliseconds(100))
        {
            issues.Add(ConfigIssue.Error("telemetry.export_interval", $"{new Duration(interval)} is too short; use at least 100ms (e.g. 15s)"));
        }

        var prometheus = telemetry.Prometheus ?? false;
        if (prometheus && !statusPage)
        {
            issues.Add(ConfigIssue.Error("telemetry.prometheus", "/metrics is served by the status page: set broker.status_page (port, token_file) too, or prometheus: false"));
        }

        if (endpoint is null && !prometheus && telemetry.OtlpEndpoint is null)
        {
            issues.Add(ConfigIssue.Warning("telemetry", "neither otlp_endpoint nor prometheus: true is set, so nothing is exported"));
        }

        return new TelemetryModel(endpoint, telemetry.OtlpProtocol ?? OtlpProtocolSetting.HttpProtobuf, interval, prometheus);
    }
}
