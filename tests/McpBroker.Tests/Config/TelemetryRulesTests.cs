using McpBroker.Config;

namespace McpBroker.Tests.Config;

public sealed class TelemetryRulesTests
{
    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load(yaml, "/etc/broker.yaml", _ => null);

    [Fact]
    public void StatusPageAndTelemetry_Valid_AreResolvedWithDefaults()
    {
        var result = Load("""
            schema_version: 1
            runtime: { root: /tmp/r }
            broker: { status_page: { port: 8766 } }
            telemetry: { otlp_endpoint: "http://127.0.0.1:4318", prometheus: true }
            """);
        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        var page = result.Model!.Settings.StatusPage!;
        Assert.Equal("127.0.0.1:8766", page.Listen.ToString());
        Assert.Equal("/tmp/r/secrets/status-token", page.TokenFile);
        var telemetry = result.Model.Telemetry!;
        Assert.Equal(new Uri("http://127.0.0.1:4318"), telemetry.OtlpEndpoint);
        Assert.Equal(OtlpProtocolSetting.HttpProtobuf, telemetry.OtlpProtocol);
        Assert.Equal(TimeSpan.FromSeconds(60), telemetry.ExportInterval);
        Assert.True(telemetry.Prometheus);
    }

    [Fact]
    public void StatusPageAndTelemetry_Absent_AreOff()
    {
        var result = Load("schema_version: 1\nruntime: { root: /tmp/r }\n");
        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        Assert.Null(result.Model!.Settings.StatusPage);
        Assert.Null(result.Model.Telemetry);
    }

    [Fact]
    public void StatusPageAndTelemetry_Invalid_EveryErrorNamesItsKeyAndTheFix()
    {
        var result = Load("""
            schema_version: 1
            runtime: { root: /tmp/r }
            broker: { status_page: { port: 70000 } }
            telemetry: { otlp_endpoint: "http://user:hunter2@127.0.0.1:4318", export_interval: 10ms, prometheus: true }
            """);
        var errors = result.Errors.ToDictionary(i => i.Path, i => i.Message);
        Assert.Contains("not a port from 1 to 65535", errors["broker.status_page.port"]);
        Assert.Contains("no user name, password or query", errors["telemetry.otlp_endpoint"]);
        Assert.DoesNotContain("hunter2", errors["telemetry.otlp_endpoint"]);
        Assert.Contains("at least 100ms", errors["telemetry.export_interval"]);

        var noPage = Load("schema_version: 1\nruntime: { root: /tmp/r }\ntelemetry: { prometheus: true }\n");
        Assert.Contains("set broker.status_page", Assert.Single(noPage.Errors, e => e.Path == "telemetry.prometheus").Message);

        var unknown = Load("schema_version: 1\nruntime: { root: /tmp/r }\nbroker: { status_page: { port: 1, listen: x } }\ntelemetry: { otlp: x }\n");
        Assert.False(unknown.IsValid);
        Assert.Contains(unknown.Errors, e => e.Path.Contains("status_page", StringComparison.Ordinal) && e.Message.Contains("listen", StringComparison.Ordinal));
        Assert.Contains(unknown.Errors, e => e.Path.Contains("telemetry", StringComparison.Ordinal) && e.Message.Contains("otlp", StringComparison.Ordinal));

        var missingPort = Load("schema_version: 1\nruntime: { root: /tmp/r }\nbroker: { status_page: {} }\n");
        Assert.Contains("port: 8766", Assert.Single(missingPort.Errors).Message);
    }
}
