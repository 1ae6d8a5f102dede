using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Config;

/// <summary>
/// Issue 27, item 7: the values of env_from, env_files and resolved headers leave the daemon by no route — not in what
/// a client is sent (results, error results, protocol errors, relayed logs, structured content), not in daemon.log
/// (the SDK's own lines included), not in status (CLI, broker.status, the status page's API). Each route is driven by an
/// upstream that hands its secrets out, and each assertion also checks the masked placeholder arrived, so the route
/// was really taken.
/// </summary>
public sealed class SecretMaskJourneyTests
{
    private const string FromHost = "host-secret-91c2e7d4aa";
    private const string FromFile = "file-secret-5b7f03e1cc";
    private const string Token = "tok-header-secret-6d1f0a9b3e";
    private const string ApiKey = "key-header-secret-27c4e8f1d0";

    [Fact]
    public async Task LeakingStdioUpstream_ItsSecretsReachNoClientResultErrorLogStatusOrStatusPage()
    {
        var port = LoopbackServer.FreePort();
        var doorPort = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            broker:
              status_page: { port: {{port}} }
              http: { listen: "127.0.0.1:{{doorPort}}" }
            profiles:
              raw: { compact_tools_enabled: false, allow_mutating_upstreams: [t] }
              default: { allow_mutating_upstreams: [t] }
            upstreams:
              t:
                command: "{{Repo.TestUpstream}}"
                args: [--leak-env, "HOST_TOKEN,FILE_TOKEN"]
                env_from: { HOST_TOKEN: MCP_BROKER_TEST_SECRET }
                env_files: { FILE_TOKEN: file.token }
            """);
        WriteSecret(Path.Combine(env.Root, "secrets", "file.token"), FromFile);
        env.ExtraEnvironment["MCP_BROKER_TEST_SECRET"] = FromHost;
        var logs = new ConcurrentQueue<string>();
#pragma warning disable MCP9005 // logging is deprecated from protocol 2026-07-28; upstreams still send logs, and the broker relays them
        // A 2025-11-25 session: logging/setLevel, which asks the broker to relay upstream logs, is gone from 2026-07-28.
        var raw = await env.ConnectAsync("raw", protocolVersion: "2025-11-25", handlers: new McpClientHandlers
        {
            NotificationHandlers = [new(NotificationMethods.LoggingMessageNotification, (n, _) =>
            {
                logs.Enqueue(n.Params?.ToJsonString() ?? "");
                return ValueTask.CompletedTask;
            })],
        });
#pragma warning restore MCP9005

        // An error result, a plain result, structured content, and a JSON-RPC error the upstream answers with (a call's is
        // turned into an error result): the text the model reads.
        foreach (var how in new[] { "error_result", "result", "structured", "protocol_error" })
        {
            var result = await raw.CallToolAsync("t.leak", new Dictionary<string, object?> { ["as"] = how });
            AssertMasked(JsonSerializer.Serialize(result), $"t.leak as {how}");
        }

        // A log the upstream sends during a call, relayed to the client.
#pragma warning disable MCP9005
        await raw.SetLoggingLevelAsync(LoggingLevel.Debug);
#pragma warning restore MCP9005
        await BrokerEnvironment.CallTextAsync(raw, "t.leak", new() { ["as"] = "log" });
        await Wait.UntilAsync(() => logs.Any(l => l.Contains("failed with", StringComparison.Ordinal)), "the upstream's log to be relayed");
        AssertMasked(string.Join("\n", logs), "a relayed log");

        // Through the facade of a compact profile: call_tool's result.
        var compact = await env.ConnectAsync("default");
        var viaFacade = await compact.CallToolAsync("broker.call_tool", new Dictionary<string, object?>
        {
            ["name"] = "t.leak",
            ["arguments"] = new Dictionary<string, object?> { ["as"] = "error_result" },
        });
        AssertMasked(JsonSerializer.Serialize(viaFacade), "broker.call_tool");

        // Through the HTTP front door: the same sessions' filters.
        var doorToken = (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "http-token"))).Trim();
        await using (var door = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{doorPort}/mcp/raw"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {doorToken}" },
        })))
        {
            var viaDoor = await door.CallToolAsync("t.leak", new Dictionary<string, object?> { ["as"] = "error_result" });
            AssertMasked(JsonSerializer.Serialize(viaDoor), "the HTTP front door");
        }

        // Every status route.
        AssertMasked(JsonSerializer.Serialize(await raw.CallToolAsync("t.crash", new Dictionary<string, object?> { ["code"] = 3 })), "a crash's error", placeholder: false);
        var status = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, status.ExitCode);
        AssertMasked(status.Stdout, "status --json", placeholder: false);
        AssertMasked((await BrokerEnvironment.CallJsonAsync(raw, "broker.status", [])).GetRawText(), "broker.status", placeholder: false);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/api/status");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "status-token"))).Trim());
        using var page = await http.SendAsync(request);
        page.EnsureSuccessStatusCode();
        AssertMasked(await page.Content.ReadAsStringAsync(), "the status page's /api/status", placeholder: false);

        await env.StopDaemonAndAssertNothingLeftAsync();
        var daemonLog = await File.ReadAllTextAsync(Path.Combine(env.Root, "logs", "daemon.log"));
        AssertMasked(daemonLog, "daemon.log");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(env.Root, "logs"), "*", SearchOption.AllDirectories))
        {
            AssertMasked(await File.ReadAllTextAsync(file), file, placeholder: false);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HeaderEchoingHttpUpstream_TheHeaderValuesItQuotesReachNoClientLogOrStatus(bool asJsonRpcError)
    {
        var echo = asJsonRpcError ? HeaderEcho.JsonRpcError : HeaderEcho.HttpError;
        await using var server = await TestHttpServer.StartAsync(bearerToken: Token);
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: { compact_tools_enabled: false, allow_mutating_upstreams: ["*"] }
            upstreams:
              web:
                transport: http
                url: "{{server.McpUrl}}"
                env_files: { API_TOKEN: web.token }
                env_from: { API_KEY: MCP_BROKER_TEST_API_KEY }
                headers: { Authorization: "Bearer ${API_TOKEN}", X-Api-Key: "${API_KEY}" }
            """);
        WriteSecret(Path.Combine(env.Root, "secrets", "web.token"), Token);
        env.ExtraEnvironment["MCP_BROKER_TEST_API_KEY"] = ApiKey;
        var client = await env.ConnectAsync();
        Assert.Equal("before", await BrokerEnvironment.CallTextAsync(client, "web.echo", new() { ["text"] = "before" }));

        server.EchoHeadersOnCall = echo;
        var result = await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = "now" });
        Assert.True(result.IsError);
        var text = JsonSerializer.Serialize(result);
        AssertMasked(text, "the call's error", placeholder: asJsonRpcError, secrets: [Token, ApiKey]);
        if (asJsonRpcError)
        {
            // The whole resolved header is a secret value: "Bearer <token>" goes, not only the token.
            Assert.True(text.Contains("Authorization: ***;", StringComparison.Ordinal) && text.Contains("X-Api-Key: ***;", StringComparison.Ordinal), text);
        }

        AssertMasked((await BrokerEnvironment.CallJsonAsync(client, "broker.status", [])).GetRawText(), "broker.status", placeholder: false, secrets: [Token, ApiKey]);
        var status = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        AssertMasked(status.Stdout, "status --json", placeholder: false, secrets: [Token, ApiKey]);
        await env.StopDaemonAndAssertNothingLeftAsync();

        // The SDK's own log line of the failed request quotes the server's words: masked like ours.
        var daemonLog = await File.ReadAllTextAsync(Path.Combine(env.Root, "logs", "daemon.log"));
        AssertMasked(daemonLog, "daemon.log", placeholder: echo == HeaderEcho.JsonRpcError, secrets: [Token, ApiKey]);
    }

    [Fact]
    public async Task StderrLine_LongerThanTheLogKeeps_IsCutOnlyAfterItsSecretsAreMasked()
    {
        // The secret straddles the log's 8,000-character cut: masked first, so no part of it is written.
        var line = new string('x', 8000 - 10) + FromHost + new string('y', 100);
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false }
            upstreams:
              t:
                command: "{{Repo.TestUpstream}}"
                args: [--stderr, "{{line}}"]
                env_from: { HOST_TOKEN: MCP_BROKER_TEST_SECRET }
            """);
        env.ExtraEnvironment["MCP_BROKER_TEST_SECRET"] = FromHost;
        var client = await env.ConnectAsync("raw");
        await BrokerEnvironment.CallTextAsync(client, "t.pid", []);

        var log = Path.Combine(env.Root, "logs", "upstreams", "t.log");
        await Wait.UntilAsync(() => File.Exists(log) && File.ReadAllText(log).Contains('…'), "the long stderr line in t's log");
        var written = await File.ReadAllTextAsync(log);
        Assert.DoesNotContain(FromHost[..8], written, StringComparison.Ordinal);
        Assert.Contains(new string('x', 7990) + "***" + new string('y', 7) + "…", written, StringComparison.Ordinal);
    }

    private static void AssertMasked(string text, string where, bool placeholder = true, string[]? secrets = null)
    {
        foreach (var secret in secrets ?? [FromHost, FromFile])
        {
            Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{where} carries the secret {secret}:\n{text}");
        }

        if (placeholder)
        {
            Assert.True(text.Contains("***", StringComparison.Ordinal), $"{where} does not show the masked value, so the route was not taken:\n{text}");
        }
    }

    private static void WriteSecret(string path, string value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, value);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
