using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>
/// Limits checked at their edge (the last value accepted, the first refused), the defaults a config may leave out,
/// and the warnings that flag a config which works but probably not as meant.
/// </summary>
public sealed class ConfigBoundaryTests
{
    private static readonly Dictionary<string, string> s_env = new() { ["HOME"] = "/home/ada", ["GITHUB_TOKEN"] = "set" };

    private static ConfigLoadResult LoadWith(string section, string root = "/tmp/mb-edges") => ConfigLoader.Load(
        $"schema_version: 1\nruntime: {{ root: {root} }}\n{section}\n", "/etc/broker.yaml", s_env.GetValueOrDefault);

    private const string Upstream = "upstreams:\n  u:\n    command: /bin/true\n";
    private const string Remote = "upstreams:\n  r:\n    transport: http\n    url: https://example.com/mcp\n";

    [Theory]
    [InlineData("broker: { status_page: { port: 1 } }")]
    [InlineData("broker: { status_page: { port: 65535 } }")]
    [InlineData("broker: { http: { listen: \"127.0.0.1:1\" } }")]
    [InlineData("broker: { http: { listen: \"localhost:65535\" } }")]
    [InlineData("broker: { http: { listen: \"[::1]:8765\" } }")]
    [InlineData("telemetry: { otlp_endpoint: \"http://127.0.0.1:4318\", export_interval: 100ms }")]
    [InlineData(Upstream + "    restart: { max_attempts: 1 }")]
    [InlineData(Upstream + "    max_concurrency: 1\n    serialize_calls: true")]
    [InlineData(Upstream + "    max_queue: 0")]
    [InlineData(Upstream + "    working_dir: /srv/u")]
    [InlineData(Remote + "    oauth: { client_id: app, redirect_port: 1 }")]
    [InlineData(Remote + "    oauth: { client_id: app, redirect_port: 65535 }")]
    [InlineData("profiles:\n  p: { tools_page_size: 0 }")]
    public void Load_AtTheEdgeOfALimit_IsValidWithoutIssues(string section)
    {
        var result = LoadWith(section);

        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        Assert.Empty(result.Issues);
    }

    [Theory]
    [InlineData("broker: { status_page: { port: 0 } }", "broker.status_page.port", "0 is not a port from 1 to 65535, e.g. port: 8766")]
    [InlineData("broker: { status_page: { port: 65536 } }", "broker.status_page.port", "65536 is not a port from 1 to 65535, e.g. port: 8766")]
    [InlineData("broker: { status_page: { token_file: x } }", "broker.status_page.port", "say which port to serve the page on (127.0.0.1 only), e.g. port: 8766")]
    [InlineData("broker: { http: { listen: \"127.0.0.1:0\" } }", "broker.http.listen", "'127.0.0.1:0' is not HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8765")]
    [InlineData("broker: { http: { listen: \"127.0.0.1:65536\" } }", "broker.http.listen", "'127.0.0.1:65536' is not HOST:PORT with a port from 1 to 65535")]
    [InlineData("broker: { http: { listen: \":8765\" } }", "broker.http.listen", "':8765' is not HOST:PORT with a port from 1 to 65535")]
    [InlineData("broker: { http: { listen: \"8765\" } }", "broker.http.listen", "'8765' is not HOST:PORT with a port from 1 to 65535")]
    [InlineData("broker: { http: { listen: \"0.0.0.0:8765\" } }", "broker.http.listen", "'0.0.0.0' is not a loopback address; the front door serves only this machine")]
    [InlineData("broker: { http: { listen: \"example.com:8765\" } }", "broker.http.listen", "'example.com' is not a loopback address")]
    [InlineData("broker: { http: { token_file: t } }", "broker.http.listen", "say where to listen, e.g. listen: 127.0.0.1:8765")]
    [InlineData("broker: { http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"http://localhost:6274/\"] } }", "broker.http.allowed_origins[0]", "'http://localhost:6274/' is not an origin")]
    [InlineData("broker: { http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"ftp://localhost\"] } }", "broker.http.allowed_origins[0]", "'ftp://localhost' is not an origin")]
    [InlineData("broker: { http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"http://localhost/app\"] } }", "broker.http.allowed_origins[0]", "'http://localhost/app' is not an origin")]
    [InlineData("broker: { start_timeout: 0s }", "broker.start_timeout", "must be more than 0")]
    [InlineData("broker: { call_timeout: 0s }", "broker.call_timeout", "must be more than 0")]
    [InlineData("telemetry: { otlp_endpoint: \"http://127.0.0.1:4318\", export_interval: 99ms }", "telemetry.export_interval", "99ms is too short; use at least 100ms (e.g. 15s)")]
    [InlineData("telemetry: { otlp_endpoint: \"http://u:p@127.0.0.1:4318\" }", "telemetry.otlp_endpoint", "must carry no user name, password or query")]
    [InlineData("telemetry: { otlp_endpoint: \"http://127.0.0.1:4318/?key=1\" }", "telemetry.otlp_endpoint", "must carry no user name, password or query")]
    [InlineData("telemetry: { prometheus: true }", "telemetry.prometheus", "/metrics is served by the status page")]
    [InlineData(Upstream + "    timeouts: { start: 0s }", "upstreams.u.timeouts.start", "must be more than 0")]
    [InlineData(Upstream + "    timeouts: { call: 0s }", "upstreams.u.timeouts.call", "must be more than 0")]
    [InlineData(Upstream + "    timeouts: { tools: { t: 0s } }", "upstreams.u.timeouts.tools.t", "must be more than 0")]
    [InlineData(Upstream + "    restart: { max_backoff: 0s }", "upstreams.u.restart.max_backoff", "must be more than 0")]
    [InlineData(Upstream + "    restart: { cooldown: 0s }", "upstreams.u.restart.cooldown", "must be more than 0")]
    [InlineData(Remote + "    oauth: { client_id: app, redirect_port: 0 }", "upstreams.r.oauth.redirect_port", "must be a TCP port (1-65535); omit it for any free port")]
    [InlineData(Remote + "    oauth: { client_id: app, redirect_port: 65536 }", "upstreams.r.oauth.redirect_port", "must be a TCP port (1-65535)")]
    [InlineData("profiles:\n  p: { tools_page_size: -1 }", "profiles.p.tools_page_size", "must be 0 (one page) or more")]
    [InlineData(Upstream + "    prefix: broker", "upstreams.u.prefix", "the prefix 'broker' is reserved for the broker's own tools")]
    [InlineData("upstreams:\n  broker: { command: /bin/true }", "upstreams.broker", "the prefix 'broker' is reserved for the broker's own tools")]
    [InlineData("clients:\n  c: { format: claude-json, profile: ghost }", "clients.c.profile", "no profile named 'ghost'; defined: default")]
    public void Load_JustPastALimit_IsOneErrorAtItsPath(string section, string path, string message)
    {
        var result = LoadWith(section);

        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.Path);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ASocketPathOfExactly107Bytes_IsValid()
    {
        // root + "/sockets/broker.sock" (20 bytes) = 107
        var root = "/tmp/" + new string('r', 82);

        var result = LoadWith("", root);

        Assert.Equal(107, System.Text.Encoding.UTF8.GetByteCount(result.Model!.Runtime.SocketPath));
        Assert.True(result.IsValid, string.Join("\n", result.Issues));
    }

    [Theory]
    [InlineData("telemetry: { otlp_protocol: grpc }", "telemetry", "neither otlp_endpoint nor prometheus: true is set, so nothing is exported")]
    [InlineData(Upstream + "    env_from: { TOKEN: NOT_SET_ANYWHERE }", "upstreams.u.env_from.TOKEN", "host variable 'NOT_SET_ANYWHERE' is not set")]
    [InlineData("clients:\n  c: { format: claude-json, mcp_allowed_servers: [x] }", "clients.c.mcp_allowed_servers", "only gemini-settings and qwen clients")]
    [InlineData(Remote + "    env_from: { TOKEN: GITHUB_TOKEN }", "upstreams.r", "'TOKEN' (env_from/env_files) is used by no header")]
    [InlineData("clients:\n  c: { format: codex-toml, codex_apps_policy: { enabled: true } }", "clients.c.codex_apps_policy", "names no connector, so apps-policy changes nothing")]
    [InlineData("clients:\n  c: { format: codex-toml, codex_apps_policy: { disable_connectors: [] } }", "clients.c.codex_apps_policy.disable_connectors", "names no connector")]
    public void Load_AWorkingButDoubtfulSetting_IsOneWarningAtItsPath(string section, string path, string message)
    {
        var result = LoadWith(section);

        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        var warning = Assert.Single(result.Warnings);
        Assert.StartsWith(path, warning.Path, StringComparison.Ordinal);
        Assert.StartsWith(message, warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WhatAConfigLeavesOut_GetsTheDocumentedDefaults()
    {
        var model = LoadWith(Upstream + "profiles:\n  p: {}\ntelemetry: { prometheus: false, otlp_endpoint: \"http://127.0.0.1:4318\" }").Model!;

        var u = model.FindUpstream("u")!;
        Assert.Equal((TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120)),
            (model.Settings.IdleTimeout, model.Settings.StartTimeout, model.Settings.CallTimeout));
        Assert.Equal((model.Settings.IdleTimeout, model.Settings.StartTimeout, model.Settings.CallTimeout), (u.IdleTimeout, u.StartTimeout, u.CallTimeout));
        Assert.Equal(RestartPolicy.Default, u.Restart);
        Assert.Null(u.MaxConcurrency);
        Assert.Equal(64, u.MaxQueue);
        Assert.Equal("/tmp/mb-edges/state/upstreams/u", u.WorkingDir);
        Assert.Empty(u.ToolOverrides);
        var p = model.Profiles["p"];
        Assert.Equal((true, ProfileModel.DefaultMaxTools, ProfileModel.DefaultToolsPageSize, OverBudgetAction.Error), (p.CompactToolsEnabled, p.MaxTools, p.ToolsPageSize, p.OnOverBudget));
        Assert.Empty(p.AllowMutatingUpstreams);
        Assert.Empty(p.AllowMutatingTools);
        Assert.Null(p.RequireTokenFile);
        Assert.Equal(OtlpProtocolSetting.HttpProtobuf, model.Telemetry!.OtlpProtocol);
    }

    [Fact]
    public void Load_SerializeCalls_IsOneCallAtATime()
    {
        var u = LoadWith(Upstream + "    serialize_calls: true").Model!.FindUpstream("u")!;

        Assert.Equal(1, u.MaxConcurrency);
    }

    [Fact]
    public void Load_ToolOverrides_KeepWhatIsSetAndDefaultTheRest()
    {
        var u = LoadWith(Upstream + "    tools:\n      a: { hidden: true, defaults: { n: 1 } }\n      b: null\n      c: { description: \"C.\" }").Model!.FindUpstream("u")!;

        Assert.True(u.ToolOverrides["a"].Hidden);
        Assert.Equal("1", u.ToolOverrides["a"].Defaults["n"].GetRawText());
        Assert.False(u.ToolOverrides["b"].Hidden);
        Assert.Empty(u.ToolOverrides["b"].Defaults);
        Assert.Equal("C.", u.ToolOverrides["c"].Description);
        Assert.False(u.ToolOverrides["c"].Hidden);
    }

    [Fact]
    public void Load_ARelativeSecretFile_IsUnderTheSecretsFolder_AndAnAbsoluteOneStaysPut()
    {
        var relative = LoadWith(Remote + "    oauth: { client_id: app, client_secret_file: app.secret }").Model!.FindUpstream("r")!.Remote!.OAuth!;
        var absolute = LoadWith(Remote + "    oauth: { client_id: app, client_secret_file: /etc/app.secret }").Model!.FindUpstream("r")!.Remote!.OAuth!;

        Assert.Equal("/tmp/mb-edges/secrets/app.secret", relative.ClientSecretFile);
        Assert.Equal("/etc/app.secret", absolute.ClientSecretFile);
        Assert.Equal("/tmp/mb-edges/secrets/oauth/r.json", relative.TokenFile);
    }

    [Fact]
    public void Load_TwoUpstreamsWithOnePrefix_NamesTheLaterOne()
    {
        var result = LoadWith("upstreams:\n  a: { command: /bin/true, prefix: same }\n  b: { command: /bin/true, prefix: same }");

        var error = Assert.Single(result.Errors);
        Assert.Equal("upstreams.b.prefix", error.Path);
        Assert.StartsWith("prefix 'same' is used by a and b; tool names would collide", error.Message, StringComparison.Ordinal);
    }
}
