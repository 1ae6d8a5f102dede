using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// http and sse upstreams through the real daemon and shim: the npm reference server in both HTTP modes, and the
/// in-test ASP.NET server for bearer tokens, session expiry, 503s, per-session mode and OAuth login/refresh/logout.
/// </summary>
public sealed class RemoteUpstreamJourneyTests
{
    private const string Token = "tok_7a1c9e0b5d3f2a8c6e4b1d9f";

    private static Func<string, string> Config(string upstreams) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 30s }
        profiles:
          default: { compact_tools_enabled: false, allow_mutating_upstreams: ["*"] }
        upstreams:
        {{upstreams}}
        """;

    [Fact]
    public async Task ServerEverything_OverStreamableHttpAndSse_ServesItsToolsThroughTheBroker()
    {
        using var http = await LoopbackServer.StartEverythingAsync("streamableHttp");
        using var sse = await LoopbackServer.StartEverythingAsync("sse");
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              eh: { transport: http, url: "http://127.0.0.1:{{http.Port}}/mcp" }
              es: { transport: sse, url: "http://127.0.0.1:{{sse.Port}}/sse" }
            """));
        var client = await env.ConnectAsync();

        var tools = await client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "eh.echo");
        Assert.Contains(tools, t => t.Name == "es.echo");
        Assert.Equal("Echo: over http", await Text(client, "eh.echo", new() { ["message"] = "over http" }));
        Assert.Equal("Echo: over sse", await Text(client, "es.echo", new() { ["message"] = "over sse" }));

        var status = await Status(client);
        Assert.All(status, u => Assert.Equal("running", u.GetProperty("state").GetString()));
        Assert.All(status, u => Assert.Equal(JsonValueKind.Null, u.GetProperty("pid").ValueKind));
        Assert.Equal(["http", "sse"], status.Select(u => u.GetProperty("transport").GetString()));
    }

    [Fact]
    public async Task BearerFromSecretFile_SurvivesSessionExpiryAnd503OnConnect_RetriesOnlyIdempotentCallsAfter503_AndNeverShowsTheToken()
    {
        await using var server = await TestHttpServer.StartAsync(bearerToken: Token);
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              web:
                transport: http
                url: "{{server.McpUrl}}"
                env_files: { API_TOKEN: web.token }
                headers: { Authorization: "Bearer ${API_TOKEN}" }
            """));
        WriteSecret(Path.Combine(env.Root, "secrets", "web.token"), Token + "\n");
        var client = await env.ConnectAsync();

        // The first two requests (the connection's initialize) get 503: connecting is retried.
        server.FailNext(2);
        Assert.Equal("hello", await Text(client, "web.echo", new() { ["text"] = "hello" }));
        Assert.All(server.Authorizations, a => Assert.Equal("Bearer " + Token, a));
        Assert.Equal(1, server.Initializes);

        // The server forgets the session: the broker starts a new one and the call still succeeds.
        server.ExpireSessions();
        Assert.Equal("again", await Text(client, "web.echo", new() { ["text"] = "again" }));
        Assert.Equal(2, server.Initializes);

        // 503 twice: an idempotent tool is retried and succeeds, once.
        server.FailNext(2);
        Assert.Equal("1", await Text(client, "web.tick"));

        // 503 once: a tool not marked idempotent is not retried, and the error says why.
        server.FailNext(1);
        var refused = await client.CallToolAsync("web.append", new Dictionary<string, object?>());
        var error = Error(refused);
        Assert.Contains("503", error.GetProperty("message").GetString());
        Assert.Contains("not retried", error.GetProperty("message").GetString());
        Assert.Equal(0, server.Counters.Append);
        Assert.Equal("1", await Text(client, "web.append"));

        var status = await Status(client);
        Assert.Equal("credentials_present", status.Single().GetProperty("auth").GetProperty("state").GetString());
        Assert.DoesNotContain(Token, status.Single().GetRawText(), StringComparison.Ordinal);
        await env.StopDaemonAndAssertNothingLeftAsync();
        AssertNotInLogs(env, Token);
    }

    [Fact]
    public async Task WrongOrMissingCredentials_FailWithWhatToFix_AndNeverTheValue()
    {
        await using var server = await TestHttpServer.StartAsync(bearerToken: Token);
        const string wrong = "tok_wrongwrongwrongwrong1234";
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              web:
                transport: http
                url: "{{server.McpUrl}}"
                env_from: { API_TOKEN: MB_TEST_WEB_TOKEN }
                headers: { Authorization: "Bearer ${API_TOKEN}" }
                restart: { max_attempts: 10 }
              gone:
                transport: http
                url: "{{server.McpUrl}}"
                env_files: { API_TOKEN: missing.token }
                headers: { Authorization: "Bearer ${API_TOKEN}" }
            """));
        env.ExtraEnvironment["MB_TEST_WEB_TOKEN"] = wrong;
        var client = await env.ConnectAsync();

        var refused = Error(await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = "x" }));
        var message = refused.GetProperty("message").GetString()!;
        Assert.Contains("HTTP 401", message);
        Assert.Contains("upstreams.web.headers", message);
        Assert.DoesNotContain(wrong, message, StringComparison.Ordinal);

        var status = await Status(client);
        var gone = status.Single(u => u.GetProperty("name").GetString() == "gone").GetProperty("auth");
        Assert.Equal("credentials_missing", gone.GetProperty("state").GetString());
        Assert.Contains("missing.token does not exist", gone.GetProperty("missing")[0].GetString());
        Assert.Equal("credentials_present", status.Single(u => u.GetProperty("name").GetString() == "web").GetProperty("auth").GetProperty("state").GetString());
        Assert.DoesNotContain(wrong, string.Join("", status.Select(s => s.GetRawText())), StringComparison.Ordinal);

        var doctor = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Equal(1, doctor.ExitCode);
        Assert.Contains("upstream gone: env_files.API_TOKEN:", doctor.Stdout);
        Assert.DoesNotContain("command '' is not found", doctor.Stdout);
        await env.StopDaemonAndAssertNothingLeftAsync();
        AssertNotInLogs(env, wrong);
    }

    [Fact]
    public async Task ServerThatForgetsEverySession_FailsAfterOneRenewal_AndRecordsTheFailure()
    {
        await using var server = await TestHttpServer.StartAsync();
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              web: { transport: http, url: "{{server.McpUrl}}" }
            """));
        server.ForgetSessionsOnCall = true;
        var client = await env.ConnectAsync();

        var failed = Error(await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = "x" }));

        Assert.Contains("ended a new session at once", failed.GetProperty("message").GetString());
        // At least the first session and its one renewal (a tool-list refresh may renew once more on its own).
        Assert.True(server.Initializes >= 2, $"{server.Initializes} sessions");
        Assert.Contains("ended a new session at once", (await Status(client)).Single().GetProperty("last_error").GetString());
    }

    [Fact]
    public async Task PerSessionMode_GivesEachClientSessionItsOwnUpstreamSession()
    {
        await using var server = await TestHttpServer.StartAsync();
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              web: { transport: http, url: "{{server.McpUrl}}", mode: per_session }
            """));
        var a = await env.ConnectAsync();
        var b = await env.ConnectAsync();

        var sessionA = await Text(a, "web.session");
        var sessionB = await Text(b, "web.session");

        Assert.NotEqual(sessionA, sessionB);
        Assert.Equal(sessionA, await Text(a, "web.session"));
        Assert.Equal(2, server.Initializes);
    }

    [Fact]
    public async Task OAuth_LoginStoresTokens0600_DaemonRefreshesThem_LogoutRemovesThem_NoTokenInAnyOutput()
    {
        await using var server = await TestHttpServer.StartAsync(oauth: true);
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              web: { transport: http, url: "{{server.McpUrl}}", oauth: {} }
            """));
        var tokenFile = Path.Combine(env.Root, "secrets", "oauth", "web.json");

        var before = await env.RunCliAsync("auth", "status", "--json", "--config", env.ConfigPath);
        Assert.Equal(1, before.ExitCode);
        Assert.Equal("credentials_missing", JsonDocument.Parse(before.Stdout).RootElement.GetProperty("web").GetProperty("state").GetString());

        var client = await env.ConnectAsync();
        var notYet = Error(await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = "x" }));
        Assert.Contains("mcp-broker auth login web", notYet.GetProperty("message").GetString());

        var login = await LoginAsync(env);
        Assert.True(login.ExitCode == 0, login.Output);
        Assert.Contains("logged in to web", login.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        var firstToken = Assert.Single(server.IssuedAccessTokens);

        // The daemon connects with the stored token (it retries now that the credentials exist).
        await env.RunCliAsync("upstream", "restart", "web", "--config", env.ConfigPath);
        Assert.Equal("with oauth", await Text(client, "web.echo", new() { ["text"] = "with oauth" }));
        Assert.Contains("Bearer " + firstToken, server.Authorizations);

        // The server stops accepting the access token: the daemon refreshes it and the call goes through.
        server.ExpireAccessTokens();
        Assert.Equal("refreshed", await Text(client, "web.echo", new() { ["text"] = "refreshed" }));
        Assert.Equal(1, server.Refreshes);
        var refreshed = JsonDocument.Parse(File.ReadAllText(tokenFile)).RootElement;
        Assert.NotEqual(firstToken, refreshed.GetProperty("access_token").GetString());
        Assert.True(refreshed.TryGetProperty("refreshed_at", out _));

        var status = (await Status(client)).Single().GetProperty("auth");
        Assert.Equal("credentials_present", status.GetProperty("state").GetString());
        Assert.True(status.GetProperty("expires_at").GetDateTimeOffset() > DateTimeOffset.UtcNow);

        // Every token revoked: the call fails with the command that fixes it.
        server.RevokeAll();
        var revoked = Error(await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = "x" }));
        Assert.Contains("mcp-broker auth login web", revoked.GetProperty("message").GetString());

        var logout = await env.RunCliAsync("auth", "logout", "web", "--config", env.ConfigPath);
        Assert.Equal(0, logout.ExitCode);
        Assert.False(File.Exists(tokenFile));
        var after = await env.RunCliAsync("auth", "status", "--config", env.ConfigPath);
        Assert.Contains("web: credentials_missing", after.Stdout);

        await env.StopDaemonAndAssertNothingLeftAsync();
        var everything = login.Output + before.Stdout + after.Stdout + logout.Stdout + status.GetRawText() + notYet.GetRawText() + revoked.GetRawText();
        foreach (var token in server.IssuedAccessTokens.Append(firstToken).Append(refreshed.GetProperty("refresh_token").GetString()!))
        {
            Assert.DoesNotContain(token, everything, StringComparison.Ordinal);
            AssertNotInLogs(env, token);
        }
    }

    /// <summary>Runs auth login, and plays the browser: follows the printed URL, which the test server approves at once.</summary>
    private static async Task<(int ExitCode, string Output)> LoginAsync(BrokerEnvironment env)
    {
        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http);
        Assert.Contains("Logged in", Assert.Single(login.Pages).Text);
        return (login.ExitCode, login.Output);
    }

    private static void WriteSecret(string path, string value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, value);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private static void AssertNotInLogs(BrokerEnvironment env, string secret)
    {
        var logs = Path.Combine(env.Root, "logs");
        var files = Directory.Exists(logs) ? Directory.GetFiles(logs, "*", SearchOption.AllDirectories) : [];
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            Assert.DoesNotContain(secret, File.ReadAllText(file), StringComparison.Ordinal);
        }
    }

    private static Task<string> Text(McpClient client, string tool, Dictionary<string, object?>? args = null) =>
        BrokerEnvironment.CallTextAsync(client, tool, args ?? []);

    private static Task<List<JsonElement>> Status(McpClient client) => BrokerEnvironment.UpstreamStatusAsync(client);

    private static JsonElement Error(CallToolResult result) => BrokerEnvironment.ErrorOf(result);
}
