using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpBroker.Tests.Support;
using Xunit.Abstractions;

namespace McpBroker.Tests.Daemon;

/// <summary>Headless Chromium takes most of a small machine: these tests run alone, so others' timings stay theirs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection
{
    public const string Name = "browser";
}

/// <summary>
/// The status page, /metrics and OTLP export against a real daemon and the real test upstream: what people look at,
/// and what telemetry collectors collect. The page is refused without its token, and shows no secret.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class StatusPageJourneyTests(ITestOutputHelper output)
{
    private const string SecretArgument = "argument-that-must-stay-private-5150";

    private static string Config(string root, int port, string telemetry = "") => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker:
          status_page: { port: {{port}} }
        {{telemetry}}
        profiles:
          raw: { compact_tools_enabled: false, allow_mutating_upstreams: [t] }
          default: {}
        upstreams:
          t: { command: "{{Repo.TestUpstream}}" }
        """;

    [BrowserFact]
    public async Task StatusPage_InHeadlessChromium_ShowsAnUpstreamGoFromStoppedToRunningAfterACall_AndIsRefusedWithoutTheToken()
    {
        await Browser.EnsureInstalledAsync();
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(root => Config(root, port));
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        env.RememberProcesses();
        var token = (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "status-token"))).Trim();

        var artifacts = Path.Combine(AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(artifacts);
        var screenshot = Path.Combine(artifacts, "status-page.png");
        File.Delete(screenshot);
        var stopped = Path.Combine(env.Root, "page-showed-stopped");

        var start = new ProcessStartInfo("node") { WorkingDirectory = Browser.Dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(Browser.Dir, "status-page.mjs"), $"http://127.0.0.1:{port}/", token, screenshot, SecretArgument, stopped })
        {
            start.ArgumentList.Add(arg);
        }

        var lines = new ConcurrentQueue<string>();
        var errors = new ConcurrentQueue<string>();
        using var browser = Process.Start(start)!;
        browser.OutputDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
        browser.ErrorDataReceived += (_, e) => { if (e.Data is not null) { errors.Enqueue(e.Data); } };
        browser.BeginOutputReadLine();
        browser.BeginErrorReadLine();
        var exited = browser.WaitForExitAsync();
        var stderr = exited.ContinueWith(_ => string.Join('\n', errors), TaskScheduler.Default);
        try
        {
            // The page shows the upstream stopped; only then does a client call it.
            await Wait.UntilAsync(() => File.Exists(stopped) || exited.IsCompleted, "the page to show upstream t stopped");
            if (!File.Exists(stopped))
            {
                Assert.Fail($"the browser script ended early:\n{string.Join('\n', lines)}\n{await stderr}");
            }

            var client = await env.ConnectAsync("raw");
            Assert.Equal($"echo: {SecretArgument}", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = SecretArgument }));

            await exited.WaitAsync(Wait.Timeout);
        }
        finally
        {
            if (!exited.IsCompleted)
            {
                browser.Kill(entireProcessTree: true);
            }
        }

        var log = string.Join('\n', lines);
        output.WriteLine(log);
        if (browser.ExitCode != 0)
        {
            Assert.Fail($"the browser script failed ({browser.ExitCode}):\n{log}\n{await stderr}");
        }

        Assert.Contains(lines, l => l.StartsWith("REFUSED 401 mcp-broker: the status page needs its token", StringComparison.Ordinal));
        Assert.Contains($"URL http://127.0.0.1:{port}/", lines); // the token left the address bar
        Assert.Contains(lines, l => l.StartsWith("RUNNING trunning", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("CALLS ", StringComparison.Ordinal) && l.Contains("rawtecho", StringComparison.Ordinal));
        Assert.Contains("TOKEN NOT IN PAGE", lines);
        Assert.Contains("TOKEN NOT IN COOKIE", lines);
        Assert.Contains("ARGUMENT NOT IN PAGE", lines);
        var png = await File.ReadAllBytesAsync(screenshot);
        Assert.True(png.Length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G', "a PNG screenshot");
        output.WriteLine($"screenshot: {screenshot}");
        Console.WriteLine($"status page screenshot: {screenshot}");

        // Nothing of the browser outlives it (its class runs alone, so any chromium left would be this test's), and
        // nothing of the broker outlives the daemon.
        await Wait.UntilAsync(() => !Browser.AnyRunning(), "chromium to exit");
        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    [Fact]
    public async Task StatusPage_RefusesWithoutTheTokenOrFromAForeignHost_AndServesCallsLatencyRestartsAndPrometheusMetrics()
    {
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(root => Config(root, port, "telemetry: { prometheus: true }"));
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        env.RememberProcesses();
        var tokenFile = Path.Combine(env.Root, "secrets", "status-token");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
        var url = $"http://127.0.0.1:{port}";
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false });

        foreach (var path in new[] { "/", "/api/status", "/metrics" })
        {
            using var bare = await http.GetAsync(url + path);
            Assert.Equal(HttpStatusCode.Unauthorized, bare.StatusCode);
            Assert.Contains($"the status page needs its token: open {url}/?token=TOKEN once, or send 'Authorization: Bearer TOKEN', with the token from {tokenFile}", await bare.Content.ReadAsStringAsync());
            using var wrong = await SendAsync(http, url + path, "not-the-token");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Contains($"the token is not the one in {tokenFile}", await wrong.Content.ReadAsStringAsync());
        }

        using (var rebinding = await SendAsync(http, url + "/api/status", token, r => r.Headers.Host = "attacker.example"))
        {
            Assert.Equal(HttpStatusCode.MisdirectedRequest, rebinding.StatusCode);
            Assert.Contains("Host 'attacker.example' is not this server's loopback address", await rebinding.Content.ReadAsStringAsync());
        }

        using (var foreign = await SendAsync(http, url + "/api/status", token, r => r.Headers.Add("Origin", "https://attacker.example")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        }

        // The link with the token sets a cookie for this page only, and the page loads with it.
        using (var link = await http.GetAsync($"{url}/?token={Uri.EscapeDataString(token)}"))
        {
            Assert.Equal(HttpStatusCode.Redirect, link.StatusCode);
            Assert.Equal("/", link.Headers.Location?.ToString());
            var cookie = Assert.Single(link.Headers.GetValues("Set-Cookie"));
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
            // Other servers on 127.0.0.1 get this cookie too: it is named by port and holds a proof, not the token.
            Assert.StartsWith($"mcp_broker_status_{new Uri(url).Port}=", cookie, StringComparison.Ordinal);
            Assert.DoesNotContain(token, cookie, StringComparison.Ordinal);
            using (var foreign = await SendAsync(http, url + "/api/status", null, r =>
            {
                r.Headers.Add("Cookie", cookie.Split(';')[0]);
                r.Headers.Add("Origin", "http://127.0.0.1:1");
            }))
            {
                Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode); // another local port's page may not read it
            }

            using var page = await SendAsync(http, url + "/", null, r => r.Headers.Add("Cookie", cookie.Split(';')[0]));
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains("<script src=\"page.js\"", html);
            Assert.DoesNotContain("http", html, StringComparison.Ordinal); // nothing loaded from elsewhere
            using var script = await SendAsync(http, url + "/page.js", token);
            Assert.Contains("api/status", await script.Content.ReadAsStringAsync());
        }

        var before = await StatusAsync(http, url, token);
        var t = Upstream(before, "t");
        Assert.Equal("stopped", t.GetProperty("state").GetString());
        Assert.Equal(0, t.GetProperty("calls").GetInt64());
        Assert.Empty(before.GetProperty("recent_calls").EnumerateArray());

        var client = await env.ConnectAsync("raw");
        await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = SecretArgument });
        var crashed = await client.CallToolAsync("t.crash", new Dictionary<string, object?> { ["code"] = 3 });
        Assert.True(crashed.IsError);
        await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "again" });

        var after = await StatusAsync(http, url, token);
        t = Upstream(after, "t");
        Assert.Equal("running", t.GetProperty("state").GetString());
        Assert.Equal(3, t.GetProperty("calls").GetInt64());
        Assert.Equal(1, t.GetProperty("errors").GetInt64());
        Assert.Equal(1, t.GetProperty("restarts").GetInt32());
        var latency = t.GetProperty("latency_ms");
        Assert.True(latency.GetProperty("p50").GetDouble() > 0 && latency.GetProperty("p95").GetDouble() >= latency.GetProperty("p50").GetDouble());
        var calls = after.GetProperty("recent_calls").EnumerateArray().ToList();
        Assert.Equal(new[] { "echo", "crash", "echo" }, calls.Select(c => c.GetProperty("tool").GetString()!).Reverse().ToArray());
        Assert.Equal(new[] { "ok", "upstream_crashed", "ok" }, calls.Select(c => c.GetProperty("outcome").GetString()!).Reverse().ToArray());
        Assert.All(calls, c => Assert.Equal("raw", c.GetProperty("profile").GetString()));
        var session = Assert.Single(after.GetProperty("sessions").EnumerateArray());
        Assert.True(session.GetProperty("uptime_seconds").GetInt64() >= 0);
        var context = after.GetProperty("context").EnumerateArray().ToDictionary(c => c.GetProperty("profile").GetString()!);
        // The tools each profile exposes after its gates (t lists 11, 4 of them mutating; raw allows them), and what its tools/list costs.
        int Figure(string profile, string key) => context[profile].GetProperty(key).GetInt32();
        Assert.Equal((7, 4, 4), (Figure("default", "raw_tools"), Figure("default", "mutating_hidden"), Figure("default", "listed_tools")));
        Assert.Equal(Math.Max(0, Figure("default", "raw_tokens") - Figure("default", "listed_tokens")), Figure("default", "saved_tokens"));
        Assert.Equal((11, 11, 0), (Figure("raw", "raw_tools"), Figure("raw", "listed_tools"), Figure("raw", "saved_tokens")));

        using var metrics = await SendAsync(http, url + "/metrics", token);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        var text = await metrics.Content.ReadAsStringAsync();
        output.WriteLine(text);
        Assert.Matches(@"mcp_broker_calls_total\{[^}]*outcome=""ok""[^}]*upstream=""t""[^}]*\} 2", text);
        Assert.Matches(@"mcp_broker_call_errors_total\{[^}]*outcome=""upstream_crashed""[^}]*upstream=""t""[^}]*\} 1", text);
        Assert.Matches(@"mcp_broker_call_duration_seconds_count\{[^}]*upstream=""t""[^}]*\} 3", text);
        Assert.Matches(@"mcp_broker_upstream_restarts_total\{[^}]*upstream=""t""[^}]*\} 1", text);
        Assert.Matches(@"mcp_broker_sessions\{[^}]*\} 1", text);
        Assert.Contains("mcp_broker_queue_depth", text);

        var everything = (await StatusAsync(http, url, token)).GetRawText() + text;
        Assert.DoesNotContain(SecretArgument, everything);
        Assert.DoesNotContain(token, everything);
        await env.StopDaemonAndAssertNothingLeftAsync();
        var logs = string.Concat(Directory.GetFiles(Path.Combine(env.Root, "logs"), "*", SearchOption.AllDirectories).Select(File.ReadAllText));
        Assert.DoesNotContain(token, logs);
        Assert.DoesNotContain(SecretArgument, logs);

        // The listener stopped with the daemon.
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(url + "/"));
    }

    [Fact]
    public async Task Telemetry_WithAnOtlpEndpoint_ExportsMetricsAndSessionCallUpstreamSpans()
    {
        using var receiver = new OtlpReceiver();
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(root => Config(root, port,
            $"telemetry: {{ otlp_endpoint: \"{receiver.Url}\", export_interval: 200ms }}"));
        var client = await env.ConnectAsync("raw");
        await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = SecretArgument });

        await Wait.UntilAsync(() => receiver.Metrics.Any(b => Contains(b, "mcp_broker.calls") && Contains(b, "mcp_broker.call.duration")),
            "the daemon to export its call metrics over OTLP");
        await client.DisposeAsync();
        await Wait.UntilAsync(() => Spans(receiver).Any(s => s.Name == "mcp_broker.session"), "the session's span to be exported when it ends");

        var spans = Spans(receiver);
        var upstream = Assert.Single(spans, s => s.Name == "mcp_broker.upstream");
        var call = Assert.Single(spans, s => s.SpanId.SequenceEqual(upstream.ParentId));
        Assert.Equal("mcp_broker.call", call.Name);
        var session = Assert.Single(spans, s => s.SpanId.SequenceEqual(call.ParentId));
        Assert.Equal("mcp_broker.session", session.Name);
        Assert.True(session.TraceId.SequenceEqual(upstream.TraceId), "one trace: session → call → upstream");
        Assert.DoesNotContain(receiver.Metrics.Concat(receiver.Traces), b => Contains(b, SecretArgument));
        Assert.DoesNotContain(receiver.Metrics.Concat(receiver.Traces), b => Contains(b, "canary-must-not-reach-upstreams"));
    }

    [Fact]
    public async Task ADaemonWhoseStatusPageCannotOpen_SaysWhy_AndDoesNotStart()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var env = await BrokerEnvironment.CreateAsync(root => Config(root, port));

        var busy = await env.RunCliAsync("daemon", "--config", env.ConfigPath);
        Assert.Equal(1, busy.ExitCode);
        Assert.Contains($"cannot serve the status page on 127.0.0.1:{port} (broker.status_page.port)", busy.Stderr);
        Assert.Contains("choose another port", busy.Stderr);

        taken.Stop();
        var tokenFile = Path.Combine(env.Root, "secrets", "status-token");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var exposed = await env.RunCliAsync("daemon", "--config", env.ConfigPath);
        Assert.Equal(1, exposed.ExitCode);
        Assert.Contains($"cannot open the status page: the token file {tokenFile} (broker.status_page.token_file) is readable by other users", exposed.Stderr);
        Assert.Null(env.DaemonPid);
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string url, string? token, Action<HttpRequestMessage>? change = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        change?.Invoke(request);
        return await http.SendAsync(request);
    }

    private static async Task<JsonElement> StatusAsync(HttpClient http, string url, string token)
    {
        using var response = await SendAsync(http, url + "/api/status", token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static JsonElement Upstream(JsonElement status, string name) =>
        status.GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("name").GetString() == name);

    internal sealed record Span(string Name, byte[] TraceId, byte[] SpanId, byte[] ParentId);

    /// <summary>The spans in every ExportTraceServiceRequest received: resource_spans(1) → scope_spans(2) → spans(2).</summary>
    internal static List<Span> Spans(OtlpReceiver receiver) =>
        [.. receiver.Traces.SelectMany(body => Protobuf.Fields(body, 1))
            .SelectMany(resource => Protobuf.Fields(resource, 2))
            .SelectMany(scope => Protobuf.Fields(scope, 2))
            .Select(span => new Span(
                Encoding.UTF8.GetString(Protobuf.Fields(span, 5).FirstOrDefault() ?? []),
                Protobuf.Fields(span, 1).FirstOrDefault() ?? [],
                Protobuf.Fields(span, 2).FirstOrDefault() ?? [],
                Protobuf.Fields(span, 4).FirstOrDefault() ?? []))];

    /// <summary>Just enough of the protobuf wire format to read length-delimited fields.</summary>
    private static class Protobuf
    {
        public static IEnumerable<byte[]> Fields(byte[] message, int number)
        {
            var found = new List<byte[]>();
            var i = 0;
            while (i < message.Length)
            {
                var key = Varint(message, ref i);
                var (field, wire) = ((int)(key >> 3), (int)(key & 7));
                switch (wire)
                {
                    case 0:
                        Varint(message, ref i);
                        break;
                    case 1:
                        i += 8;
                        break;
                    case 5:
                        i += 4;
                        break;
                    case 2:
                        var length = (int)Varint(message, ref i);
                        if (field == number)
                        {
                            found.Add(message[i..(i + length)]);
                        }

                        i += length;
                        break;
                    default:
                        throw new InvalidDataException($"wire type {wire} at {i}");
                }
            }

            return found;
        }

        private static ulong Varint(byte[] data, ref int i)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = data[i++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
        }
    }

    /// <summary>An OTLP/HTTP receiver on 127.0.0.1 that keeps every body POSTed to /v1/metrics and /v1/traces.</summary>
    internal sealed class OtlpReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentQueue<byte[]> _metrics = new();
        private readonly ConcurrentQueue<byte[]> _traces = new();

        public OtlpReceiver()
        {
            var port = LoopbackServer.FreePort();
            Url = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Add(Url + "/");
            _listener.Start();
            _ = ServeAsync();
        }

        public string Url { get; }

        public byte[][] Metrics => [.. _metrics];

        public byte[][] Traces => [.. _traces];

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var queue = context.Request.Url?.AbsolutePath switch { "/v1/metrics" => _metrics, "/v1/traces" => _traces, _ => null };
                queue?.Enqueue(body.ToArray());
                context.Response.StatusCode = queue is null ? 404 : 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }
}
