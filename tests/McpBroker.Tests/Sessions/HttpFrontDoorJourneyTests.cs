using System.Net;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// The HTTP front door: a client that prefers a URL reaches a profile at http://127.0.0.1:PORT/mcp/PROFILE with the
/// bearer token; requests without it, with another Host (DNS rebinding) or a foreign Origin are refused before MCP.
/// </summary>
public sealed class HttpFrontDoorJourneyTests
{
    [Fact]
    public async Task AClientWithTheToken_UsesAProfileOverHttp_AndEverythingElseIsRefusedSayingWhy()
    {
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            broker:
              http: { listen: "127.0.0.1:{{port}}", allowed_origins: ["http://localhost:6274"] }
            profiles:
              raw: { compact_tools_enabled: false }
              default: {}
              guarded: { compact_tools_enabled: false, require_token_file: guarded-token }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            """);
        var guardedToken = Path.Combine(env.Root, "secrets", "guarded-token");
        Directory.CreateDirectory(Path.GetDirectoryName(guardedToken)!);
        await File.WriteAllTextAsync(guardedToken, "guarded-secret-value\n");
        File.SetUnixFileMode(guardedToken, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);

        // The daemon made the token file: private, and never in its log.
        var tokenFile = Path.Combine(env.Root, "secrets", "http-token");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
        Assert.True(token.Length >= 40, "a token with at least 32 random bytes");

        var url = $"http://127.0.0.1:{port}/mcp";
        string rawSession;
        // An initialize client (2025-11-25) gets a session; the SDK's default 2026-07-28 is served per request.
        await using (var raw = await ConnectAsync($"{url}/raw", token, "2025-11-25"))
        {
            Assert.Equal("echo: over http", await BrokerEnvironment.CallTextAsync(raw, "t.echo", new() { ["message"] = "over http" }));
            Assert.Contains("t.echo", (await raw.ListToolsAsync()).Select(t => t.Name));
            rawSession = raw.SessionId ?? throw new InvalidOperationException("an initialize client gets a session");

            // A session is used only through the profile it began with (the SDK knows sessions by id alone).
            using var other = new HttpClient();
            using var hijack = new HttpRequestMessage(HttpMethod.Post, $"{url}/default")
            {
                Content = new StringContent("""{"jsonrpc":"2.0","id":9,"method":"tools/list"}""", System.Text.Encoding.UTF8, "application/json"),
            };
            hijack.Headers.Accept.ParseAdd("application/json, text/event-stream");
            hijack.Headers.Add("Mcp-Session-Id", rawSession);
            hijack.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            var refused = await other.SendAsync(hijack);
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
            Assert.Contains("this session belongs to another profile", await refused.Content.ReadAsStringAsync());
        }

        await using (var compact = await ConnectAsync($"{url}/default", token))
        {
            Assert.Equal(["broker.search_tools", "broker.describe_tool", "broker.call_tool", "broker.status"], (await compact.ListToolsAsync()).Select(t => t.Name));
        }

        // A profile with its own token takes that token, not the door's.
        await using (var guarded = await ConnectAsync($"{url}/guarded", "guarded-secret-value"))
        {
            Assert.Equal("echo: guarded", await BrokerEnvironment.CallTextAsync(guarded, "t.echo", new() { ["message"] = "guarded" }));
        }

        using var http = new HttpClient();
        async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> PostAsync(string path, string? bearer, Action<HttpRequestMessage>? adjust = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}{path}")
            {
                Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}""",
                    System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            if (bearer is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            }

            adjust?.Invoke(request);
            var response = await http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
        }

        var noToken = await PostAsync("/mcp/raw", null);
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.Status);
        Assert.Contains($"send the token from {tokenFile} as 'Authorization: Bearer TOKEN'", noToken.Body);
        Assert.Equal("Bearer", noToken.Response.Headers.WwwAuthenticate.Single().Scheme);
        var wrong = await PostAsync("/mcp/raw", "not-the-token");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.DoesNotContain("not-the-token", wrong.Body);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync("/mcp/guarded", token)).Status);

        var rebinding = await PostAsync("/mcp/raw", token, r => r.Headers.Host = $"evil.example:{port}");
        Assert.Equal(HttpStatusCode.MisdirectedRequest, rebinding.Status);
        Assert.Contains("is not this server's loopback address", rebinding.Body);
        var foreign = await PostAsync("/mcp/raw", token, r => r.Headers.Add("Origin", "http://evil.example"));
        Assert.Equal(HttpStatusCode.Forbidden, foreign.Status);
        Assert.Contains("add it to broker.http.allowed_origins", foreign.Body);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("/mcp/raw", token, r => r.Headers.Add("Origin", "http://localhost:6274"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("/mcp/raw", token, r => r.Headers.Add("Origin", $"http://127.0.0.1:{port}"))).Status);

        // Two Origin header lines (HttpClient would join them into one): the foreign one must not pass behind an allowed one.
        foreach (var origins in new[] { ("http://evil.example", "http://localhost:6274"), ("http://localhost:6274", "http://evil.example") })
        {
            using var raw = new System.Net.Sockets.TcpClient();
            await raw.ConnectAsync(System.Net.IPAddress.Loopback, port);
            var body = """{"jsonrpc":"2.0","id":1,"method":"ping"}""";
            var stream = raw.GetStream();
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
                $"POST /mcp/raw HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origins.Item1}\r\nOrigin: {origins.Item2}\r\n"
                + $"Authorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                + $"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"));
            var reply = await new StreamReader(stream).ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.StartsWith("HTTP/1.1 403", reply, StringComparison.Ordinal);
            Assert.Contains("Origin 'http://evil.example' is not allowed", reply, StringComparison.Ordinal);
        }

        var unknown = await PostAsync("/mcp/nope", token);
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Contains("no profile named 'nope'", unknown.Body);
        Assert.Contains("profiles: raw, default, guarded", unknown.Body);

        var log = await File.ReadAllTextAsync(Path.Combine(env.Root, "logs", "daemon.log"));
        Assert.Contains($"HTTP front door listening at http://127.0.0.1:{port}/mcp/PROFILE", log);
        Assert.DoesNotContain(token, log);
        Assert.DoesNotContain("guarded-secret-value", log);
    }

    [Fact]
    public async Task ADaemonWhoseFrontDoorCannotOpen_SaysWhy_AndDoesNotStart()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            broker: { http: { listen: "127.0.0.1:{{port}}" } }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            """);

        var busy = await env.RunCliAsync("daemon", "--config", env.ConfigPath);
        Assert.Equal(1, busy.ExitCode);
        Assert.Contains($"cannot listen on 127.0.0.1:{port} (broker.http.listen)", busy.Stderr);

        taken.Stop();
        var tokenFile = Path.Combine(env.Root, "secrets", "http-token");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var exposed = await env.RunCliAsync("daemon", "--config", env.ConfigPath);
        Assert.Equal(1, exposed.ExitCode);
        Assert.Contains($"is readable by other users, so it proves nothing; run chmod 600 {tokenFile}", exposed.Stderr);
    }

    [Fact]
    public async Task ASessionsStream_CarriesEventIds_AndIsResumedWithLastEventId()
    {
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            broker:
              http: { listen: "127.0.0.1:{{port}}" }
            profiles:
              raw: { compact_tools_enabled: false }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            """);
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        var token = (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "http-token"))).Trim();
        using var http = new HttpClient();
        string? session = null;

        HttpRequestMessage Request(HttpMethod method, string? body)
        {
            var request = new HttpRequestMessage(method, $"http://127.0.0.1:{port}/mcp/raw");
            if (body is not null)
            {
                request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            }

            request.Headers.Accept.ParseAdd(body is null ? "text/event-stream" : "application/json, text/event-stream");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            if (session is not null)
            {
                request.Headers.Add("Mcp-Session-Id", session);
                request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
            }

            return request;
        }

        using (var initialize = await http.SendAsync(Request(HttpMethod.Post,
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"sse","version":"1"}}}""")))
        {
            Assert.Equal(HttpStatusCode.OK, initialize.StatusCode);
            session = initialize.Headers.GetValues("Mcp-Session-Id").Single();
        }

        Assert.Equal(HttpStatusCode.Accepted, (await http.SendAsync(Request(HttpMethod.Post, """{"jsonrpc":"2.0","method":"notifications/initialized"}"""))).StatusCode);

        // The call's stream: a priming event (an id, no data) before the answer, which has an id too.
        using var call = await http.SendAsync(Request(HttpMethod.Post,
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t.echo","arguments":{"message":"resumed"}}}"""));
        Assert.Equal("text/event-stream", call.Content.Headers.ContentType?.MediaType);
        var stream = await call.Content.ReadAsStringAsync();
        var events = stream.ReplaceLineEndings("\n").Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('\n').Select(l => l.Split(':', 2)).Where(f => f.Length == 2).ToLookup(f => f[0], f => f[1].Trim())).ToList();
        var priming = events[0];
        Assert.True(priming["id"].Count() == 1 && !priming["data"].Any(d => d.Length > 0), $"a priming event first:\n{stream}");
        // (A retry field comes only with a stream the server ends for the client to poll, SEP-1699: the SDK writes it then.)
        var answer = Assert.Single(events, e => e["data"].Any(d => d.Contains("echo: resumed", StringComparison.Ordinal)));
        Assert.Single(answer["id"]);

        // A client that lost the stream after the priming event gets the rest again.
        using var resume = Request(HttpMethod.Get, null);
        resume.Headers.Add("Last-Event-ID", priming["id"].Single());
        using var replay = await http.SendAsync(resume, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        using var reader = new StreamReader(await replay.Content.ReadAsStreamAsync());
        var replayed = new List<string>();
        while (await reader.ReadLineAsync().WaitAsync(Wait.Timeout) is { } line)
        {
            // To the end of the event that carries the answer (its id line may come after its data).
            if (line.Length == 0 && replayed.Any(l => l.Contains("echo: resumed", StringComparison.Ordinal)))
            {
                break;
            }

            replayed.Add(line);
        }

        Assert.Contains(replayed, l => l.StartsWith("data:", StringComparison.Ordinal) && l.Contains("echo: resumed", StringComparison.Ordinal));
        Assert.Contains($"id: {answer["id"].Single()}", replayed);
    }

    private static async Task<McpClient> ConnectAsync(string url, string token, string? protocolVersion = null) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(url),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "http-test", Version = "1" }, ProtocolVersion = protocolVersion });
}
