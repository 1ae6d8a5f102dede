using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// The HTTP front door to clients of protocol 2026-07-28, sent as such a client sends them (plain POSTs with the
/// per-request <c>_meta</c> envelope and the standard headers): caching hints on list results, the order of tools/list,
/// the Mcp-Method/Mcp-Name check, W3C trace context from <c>_meta</c> into the spans and on to the upstream, and what a
/// stateless client's "session" is for per-session upstreams.
/// </summary>
public sealed class HttpFrontDoorStatelessJourneyTests
{
    private const string Revision = "2026-07-28";
    private const string TraceId = "0af7651916cd43dd8448eb211c80319c";
    private const string ParentId = "b7ad6b7169203331";

    private static string Config(string root, int port, string upstreams, string extra = "") => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker:
          http: { listen: "127.0.0.1:{{port}}" }
        {{extra}}
        profiles:
          raw: { compact_tools_enabled: false }
        upstreams:
        {{upstreams}}
        """;

    /// <summary>A daemon with the front door open; the token to use it.</summary>
    private static async Task<(BrokerEnvironment Env, string Token)> StartAsync(int port, string upstreams, string extra = "")
    {
        var env = await BrokerEnvironment.CreateAsync(root => Config(root, port, upstreams, extra));
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        return (env, (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "http-token"))).Trim());
    }

    [Fact]
    public async Task StatelessRequests_GetPrivateCachingHints_HeadersMustMatchTheBody_AndTraceContextReachesTheUpstream()
    {
        var port = LoopbackServer.FreePort();
        var (env, token) = await StartAsync(port, $$"""  t: { command: "{{Repo.TestUpstream}}", args: [--meta-tool] }""");
        await using var _ = env;
        var door = new Door(port, token);

        // Every list the broker answers itself: private (it depends on the profile, so on the token), and fresh for a minute.
        foreach (var (method, key) in new[] { ("tools/list", "tools"), ("resources/list", "resources"), ("resources/templates/list", "resourceTemplates"), ("prompts/list", "prompts") })
        {
            var (status, answer) = await door.PostAsync(method, new JsonObject(), null);
            Assert.Equal(HttpStatusCode.OK, status);
            var result = answer["result"]!;
            Assert.NotNull(result[key]);
            Assert.Equal("private", (string?)result["cacheScope"]);
            Assert.Equal(60_000, (int?)result["ttlMs"]);
        }

        // A client of the session era is never sent fields its revision does not have.
        await using (var older = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{port}/mcp/raw"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }), new McpClientOptions { ProtocolVersion = "2025-11-25" }))
        {
            var listed = await older.SendRequestAsync(new JsonRpcRequest { Method = "tools/list", Params = new JsonObject() });
            var result = Assert.IsType<JsonObject>(listed.Result);
            Assert.NotNull(result["tools"]);
            Assert.False(result.ContainsKey("ttlMs") || result.ContainsKey("cacheScope"), result.ToJsonString());
        }

        // Mcp-Method / Mcp-Name must say what the body says (2026-07-28 basic/transports/streamable-http, "Server Validation"):
        // 400 with HeaderMismatch (-32020), and the call goes nowhere.
        var echo = new JsonObject { ["name"] = "t.echo", ["arguments"] = new JsonObject { ["message"] = "x" } };
        foreach (var (headers, says) in new (Action<HttpRequestMessage>, string)[]
        {
            (r => { r.Headers.Remove("Mcp-Method"); r.Headers.Add("Mcp-Method", "tools/list"); }, "Mcp-Method header value 'tools/list' does not match body value 'tools/call'"),
            (r => { r.Headers.Remove("Mcp-Name"); r.Headers.Add("Mcp-Name", "t.pid"); }, "Mcp-Name header value 't.pid' does not match body value 't.echo'"),
            (r => r.Headers.Remove("Mcp-Method"), "Missing required Mcp-Method header"),
            (r => r.Headers.Remove("Mcp-Name"), "Missing required Mcp-Name header"),
        })
        {
            var (status, answer) = await door.PostAsync("tools/call", echo.DeepClone().AsObject(), headers);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal(-32020, (int?)answer["error"]?["code"]);
            Assert.Contains(says, (string?)answer["error"]?["message"], StringComparison.Ordinal);
        }

        // With the headers right the call goes through.
        Assert.Equal("echo: x", (string?)(await door.AnswerAsync("tools/call", echo))["result"]?["content"]?[0]?["text"]);

        // The client's trace context reaches the upstream unchanged when the daemon records no spans (a hop that does not
        // trace passes it on), and not the client's own protocol envelope (what the upstream sees there is the broker's).
        var traced = await door.AnswerAsync("tools/call", new JsonObject
        {
            ["name"] = "t.meta",
            ["_meta"] = new JsonObject { ["traceparent"] = $"00-{TraceId}-{ParentId}-01", ["tracestate"] = "vendor=abc" },
        });
        var seen = JsonNode.Parse((string)traced["result"]!["content"]![0]!["text"]!)!.AsObject();
        Assert.Equal($"00-{TraceId}-{ParentId}-01", (string?)seen["traceparent"]);
        Assert.Equal("vendor=abc", (string?)seen["tracestate"]);
        Assert.NotEqual("raw-client", (string?)seen["io.modelcontextprotocol/clientInfo"]?["name"]);
    }

    [Fact]
    public async Task TraceContextInMeta_ParentsTheBrokersSpans_AndTheUpstreamGetsTheBrokersSpanAsItsParent()
    {
        using var receiver = new Daemon.StatusPageJourneyTests.OtlpReceiver();
        var port = LoopbackServer.FreePort();
        var (env, token) = await StartAsync(port, $$"""  t: { command: "{{Repo.TestUpstream}}", args: [--meta-tool] }""",
            $"telemetry: {{ otlp_endpoint: \"{receiver.Url}\", export_interval: 200ms }}");
        await using var _ = env;
        var door = new Door(port, token);

        var answer = await door.AnswerAsync("tools/call", new JsonObject
        {
            ["name"] = "t.meta",
            ["_meta"] = new JsonObject { ["traceparent"] = $"00-{TraceId}-{ParentId}-01", ["tracestate"] = "vendor=abc" },
        });
        var seen = JsonNode.Parse((string)answer["result"]!["content"]![0]!["text"]!)!.AsObject();
        var upstreamParent = ((string?)seen["traceparent"])?.Split('-') ?? [];
        Assert.Equal(4, upstreamParent.Length);
        Assert.Equal(TraceId, upstreamParent[1]);
        Assert.NotEqual(ParentId, upstreamParent[2]);
        Assert.Equal("vendor=abc", (string?)seen["tracestate"]);

        await Wait.UntilAsync(() => Daemon.StatusPageJourneyTests.Spans(receiver).Any(s => s.Name == "mcp_broker.request"), "the request's span to be exported");
        var spans = Daemon.StatusPageJourneyTests.Spans(receiver);
        var request = Assert.Single(spans, s => s.Name == "mcp_broker.request");
        Assert.Equal(TraceId, Convert.ToHexStringLower(request.TraceId));
        Assert.Equal(ParentId, Convert.ToHexStringLower(request.ParentId));
        var call = Assert.Single(spans, s => s.Name == "mcp_broker.call");
        Assert.Equal(request.SpanId, call.ParentId);
        var upstream = Assert.Single(spans, s => s.Name == "mcp_broker.upstream");
        Assert.Equal(call.SpanId, upstream.ParentId);
        Assert.Equal(upstreamParent[2], Convert.ToHexStringLower(upstream.SpanId));
    }

    [Fact]
    public async Task ToolsList_IsInTheProfilesOrder_WhicheverUpstreamStartedFirst()
    {
        var upstreams = $$"""
              a: { command: "{{Repo.TestUpstream}}", args: [--tools, "3"] }
              b: { command: "{{Repo.TestUpstream}}", args: [--meta-tool] }
            """;
        var listings = new List<string>();
        foreach (var order in new[] { new[] { "b", "a" }, ["a", "b"] })
        {
            var port = LoopbackServer.FreePort();
            var (env, token) = await StartAsync(port, upstreams);
            await using var _ = env;
            var door = new Door(port, token);
            var pids = new List<string>();
            foreach (var upstream in order)
            {
                pids.Add((string)(await door.AnswerAsync("tools/call", new JsonObject { ["name"] = $"{upstream}.pid" }))["result"]!["content"]![0]!["text"]!);
            }

            // Started in this order: the first upstream's process is older (a lower start time in /proc).
            Assert.True(StartTime(int.Parse(pids[0])) <= StartTime(int.Parse(pids[1])), $"{order[0]} started before {order[1]}");
            listings.Add((await door.AnswerAsync("tools/list", new JsonObject()))["result"]!.ToJsonString());
        }

        Assert.Equal(listings[0], listings[1]);
        Assert.StartsWith("""{"tools":[{"name":"a.echo""", listings[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task PerSessionUpstreams_ForStatelessClients_AreOnePerClientIdentityOrHandle_AndLastAcrossItsRequests()
    {
        var port = LoopbackServer.FreePort();
        var (env, token) = await StartAsync(port, $$"""  p: { command: "{{Repo.TestUpstream}}", mode: per_session }""");
        await using var _ = env;
        var door = new Door(port, token);

        async Task<int> PidAsync(string client, string? handle = null) => int.Parse((string)(await door.PostAsync("tools/call", new JsonObject { ["name"] = "p.pid" },
            handle is null ? null : r => r.Headers.Add("Mcp-Broker-Session", handle), client)).Answer["result"]!["content"]![0]!["text"]!);

        var alice = await PidAsync("alice");
        var bob = await PidAsync("bob");
        Assert.NotEqual(alice, bob);

        // Each one's requests reuse its own, which outlives the request that started it.
        Assert.True(Processes.Alive(alice) && Processes.Alive(bob));
        Assert.Equal(alice, await PidAsync("alice"));
        Assert.Equal(bob, await PidAsync("bob"));

        // An explicit handle separates two copies of one client; the same handle is the same session.
        var handled = await PidAsync("alice", "window-2");
        Assert.NotEqual(alice, handled);
        Assert.NotEqual(bob, handled);
        Assert.Equal(handled, await PidAsync("alice", "window-2"));

        // Concurrent requests of two clients still never share.
        var together = await Task.WhenAll(PidAsync("carol"), PidAsync("dave"), PidAsync("carol"), PidAsync("dave"));
        Assert.Equal(together[0], together[2]);
        Assert.Equal(together[1], together[3]);
        Assert.NotEqual(together[0], together[1]);
        Assert.Equal(5, new[] { alice, bob, handled, together[0], together[1] }.Distinct().Count());
    }

    /// <summary>When the process started, in clock ticks since boot (field 22 of /proc/PID/stat).</summary>
    private static long StartTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Plain POSTs to /mcp/raw as a 2026-07-28 client sends them.</summary>
    private sealed class Door(int port, string token)
    {
        private static readonly HttpClient s_http = new();
        private int _id;

        public async Task<JsonObject> AnswerAsync(string method, JsonObject parameters, string client = "raw-client") =>
            (await PostAsync(method, parameters, null, client)).Answer;

        public async Task<(HttpStatusCode Status, JsonObject Answer)> PostAsync(string method, JsonObject parameters, Action<HttpRequestMessage>? adjust,
            string client = "raw-client")
        {
            var meta = parameters["_meta"] as JsonObject ?? [];
            meta["io.modelcontextprotocol/protocolVersion"] = Revision;
            meta["io.modelcontextprotocol/clientCapabilities"] = new JsonObject();
            meta["io.modelcontextprotocol/clientInfo"] = new JsonObject { ["name"] = client, ["version"] = "1.0" };
            parameters["_meta"] = meta;
            var body = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = Interlocked.Increment(ref _id), ["method"] = method, ["params"] = parameters };
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/mcp/raw")
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            request.Headers.Add("MCP-Protocol-Version", Revision);
            request.Headers.Add("Mcp-Method", method);
            if ((string?)(parameters["name"] ?? parameters["uri"]) is { } name)
            {
                request.Headers.Add("Mcp-Name", name);
            }

            adjust?.Invoke(request);
            using var response = await s_http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();

            // An SSE answer: the last data line that is a response (notifications may come before it).
            var json = response.Content.Headers.ContentType?.MediaType == "text/event-stream"
                ? text.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal)).Select(l => l[5..].Trim()).LastOrDefault(l => l.Contains("\"id\"", StringComparison.Ordinal))
                : text;
            return (response.StatusCode, json is { Length: > 0 } ? JsonNode.Parse(json)!.AsObject() : new JsonObject { ["raw"] = text });
        }
    }
}
