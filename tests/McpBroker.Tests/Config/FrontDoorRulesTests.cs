using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>The config of the HTTP front door and of transparent profiles (the profile a front-door client sees as one server).</summary>
public sealed class FrontDoorRulesTests
{
    private static ConfigLoadResult Load(string broker, string profiles) => ConfigLoader.Load($"""
        schema_version: 1
        runtime: {"{"} root: "/tmp/mb-protocol-unit" {"}"}
        broker: {broker}
        profiles: {profiles}
        upstreams:
          a: {"{"} command: npx {"}"}
          b: {"{"} command: npx, prefix: bee {"}"}
        """, "/etc/broker.yaml", _ => null);

    private static string Errors(ConfigLoadResult result) => string.Join("\n", result.Errors.Select(e => e.ToString()));

    [Fact]
    public void FrontDoor_Defaults_AndTheUrlOfAProfile()
    {
        var result = Load("{ http: { listen: \"127.0.0.1:8765\" } }", "{ default: {} }");

        Assert.True(result.IsValid, Errors(result));
        var http = result.Model!.Settings.Http!;
        Assert.Equal("/tmp/mb-protocol-unit/secrets/http-token", http.TokenFile);
        Assert.Empty(http.AllowedOrigins);
        Assert.Equal("http://127.0.0.1:8765/mcp/default", http.Url("default"));
        Assert.Null(Load("{}", "{ default: {} }").Model!.Settings.Http);
    }

    [Theory]
    [InlineData("{ http: {} }", "broker.http.listen", "say where to listen")]
    [InlineData("{ http: { listen: \"8765\" } }", "broker.http.listen", "is not HOST:PORT")]
    [InlineData("{ http: { listen: \"127.0.0.1:0\" } }", "broker.http.listen", "a port from 1 to 65535")]
    [InlineData("{ http: { listen: \"0.0.0.0:8765\" } }", "broker.http.listen", "'0.0.0.0' is not a loopback address")]
    [InlineData("{ http: { listen: \"example.com:8765\" } }", "broker.http.listen", "'example.com' is not a loopback address")]
    [InlineData("{ http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"http://localhost:6274/app\"] } }", "broker.http.allowed_origins[0]", "is not an origin")]
    [InlineData("{ http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"localhost\"] } }", "broker.http.allowed_origins[0]", "is not an origin")]
    public void FrontDoor_BadSettings_AreRefusedWithThePathAndTheFix(string broker, string path, string message)
    {
        var result = Load(broker, "{ default: {} }");

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("{ t: { transparent: true } }", "this one sees 2 (a, b)")]
    [InlineData("{ t: { transparent: true, upstreams: [a], compact_tools_enabled: true } }", "remove compact_tools_enabled: true or transparent: true")]
    public void TransparentProfile_NeedsExactlyOneUpstream_AndARawView(string profiles, string message)
    {
        var result = Load("{}", profiles);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == "profiles.t.transparent" && e.Message.Contains(message, StringComparison.Ordinal));
    }
}
