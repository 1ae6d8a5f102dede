using System.Text.Json;
using System.Web;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Auth;

/// <summary>
/// OAuth as users hit it, against tests/upstreams/oauth-server.mjs (the TypeScript SDK's auth router: dynamic
/// registration, a sign-in page, PKCE S256, short access tokens, rotating refresh tokens, revocation): the whole flow in
/// headless Chromium, and each way it went wrong — concurrent refreshes, revoked tokens, a down token endpoint, a wrong
/// client secret, no dynamic registration, exact redirect URI matching, a stray redirect.
/// </summary>
public sealed class OAuthJourneyTests
{
    private static Func<string, string> Config(OAuthTestServer server, string oauth = "{}", string extra = "") => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 30s }
        profiles:
          default: { compact_tools_enabled: false }
        upstreams:
          web: { transport: http, url: "{{server.McpUrl}}", oauth: {{oauth}}{{extra}} }
        """;

    [BrowserFact]
    public async Task RealBrowserLogin_Calls_TransparentRefresh_Revocation_Relogin_Restart_Logout_AllSayWhatIsTrue()
    {
        await using var server = await OAuthTestServer.StartAsync("--access-ttl", "3");
        await using var env = await BrokerEnvironment.CreateAsync(Config(server, extra: ", restart: { max_attempts: 2, cooldown: 10m }"));
        var oauthDir = Path.Combine(env.Root, "secrets", "oauth");
        var tokenFile = Path.Combine(oauthDir, "web.json");
        var client = await env.ConnectAsync();

        // Before any login calls fail with the command that fixes it, until the circuit opens.
        for (var i = 0; i < 2; i++)
        {
            Assert.Contains("mcp-broker auth login web", Error(await Echo(client, "x")).GetProperty("message").GetString());
        }

        Assert.Equal("circuit_open", (await Status(client)).GetProperty("state").GetString());

        // A person logs in in the browser; the page says so only once the tokens are in.
        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.ChromiumAsync);
        Assert.True(login.ExitCode == 0, login.Output);
        var page = Assert.Single(login.Pages);
        Assert.Equal(200, page.Status);
        Assert.Contains("Logged in to web", page.Text);
        Assert.Equal(1, await server.StatAsync("code_exchanges"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(oauthDir));
        Assert.All(Directory.GetFiles(oauthDir), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));

        // The login closed the circuit the failed calls opened: the next call goes through.
        Assert.Equal("first", await Text(client, "first"));

        // The 3 s access token runs out; the call after that is served with a refreshed one.
        var expiresAt = Stored(tokenFile).GetProperty("expires_at").GetDateTimeOffset();
        await Wait.UntilAsync(() => DateTimeOffset.UtcNow > expiresAt, "the access token to expire");
        Assert.Equal("after expiry", await Text(client, "after expiry"));
        Assert.True(await server.StatAsync("refreshes") >= 1);
        Assert.Equal(0, await server.StatAsync("refresh_refusals"));

        // The server revokes every token: the call says to log in, and every view says the server refused them.
        await server.RevokeAllAsync();
        Assert.Contains("mcp-broker auth login web", Error(await Echo(client, "x")).GetProperty("message").GetString());
        var auth = await env.RunCliAsync("auth", "status", "--json", "--config", env.ConfigPath);
        Assert.Equal(1, auth.ExitCode);
        var probe = JsonDocument.Parse(auth.Stdout).RootElement.GetProperty("web");
        Assert.Equal("credentials_refused", probe.GetProperty("state").GetString());
        Assert.Contains("refused by the server at", probe.GetProperty("detail").GetString());
        Assert.Contains("invalid_grant", probe.GetProperty("detail").GetString());
        Assert.Equal("credentials_refused", (await Status(client)).GetProperty("auth").GetProperty("state").GetString());
        var status = JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement;
        Assert.Equal("credentials_refused", status.GetProperty("upstreams").EnumerateArray().Single().GetProperty("auth").GetProperty("state").GetString());
        var doctor = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.NotEqual(0, doctor.ExitCode);
        Assert.Contains("refused by the server at", doctor.Stdout + doctor.Stderr);

        // Logging in again uses the client registered the first time, and the daemon serves at once.
        var again = await OAuthLogin.RunAsync(env, "web", OAuthLogin.ChromiumAsync);
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.Contains("used again", again.Output);
        Assert.Equal(1, await server.StatAsync("registrations"));
        Assert.Equal("back", await Text(client, "back"));
        Assert.Equal("credentials_present", (await Status(client)).GetProperty("auth").GetProperty("state").GetString());

        // A new daemon serves with the stored tokens, no login.
        await env.StopDaemonAndAssertNothingLeftAsync();
        client = await env.ConnectAsync();
        Assert.Equal("after restart", await Text(client, "after restart"));

        // Logout revokes the tokens at the server (refresh and access token), then removes them here; the client
        // registration stays for the next login.
        var revocations = await server.StatAsync("revocations");
        var stored = Stored(tokenFile);
        var logout = await env.RunCliAsync("auth", "logout", "web", "--config", env.ConfigPath);
        Assert.True(logout.ExitCode == 0, logout.Stdout + logout.Stderr);
        Assert.Contains("revoked at", logout.Stdout);
        Assert.Equal(revocations + 2, await server.StatAsync("revocations"));
        Assert.False(File.Exists(tokenFile));
        Assert.True(File.Exists(Path.Combine(oauthDir, "web.client.json")));
        Assert.Contains("mcp-broker auth login web", Error(await Echo(client, "x")).GetProperty("message").GetString());

        await env.StopDaemonAndAssertNothingLeftAsync();
        var everything = login.Output + again.Output + auth.Stdout + doctor.Stdout + logout.Stdout + status.GetRawText();
        foreach (var secret in new[] { stored.GetProperty("access_token").GetString()!, stored.GetProperty("refresh_token").GetString()! })
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
            AssertNotInLogs(env, secret);
        }
    }

    [Fact]
    public async Task PerSessionSessionsRefreshingAtOnce_SpendTheRotatingRefreshTokenOnce_AndAllCallsWork()
    {
        await using var server = await OAuthTestServer.StartAsync("--access-ttl", "600");
        await using var env = await BrokerEnvironment.CreateAsync(Config(server, extra: ", mode: per_session"));
        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http);
        Assert.True(login.ExitCode == 0, login.Output);

        // Four client sessions, four upstream sessions, each with its own OAuth client in the daemon.
        var clients = new List<McpClient>();
        for (var i = 0; i < 4; i++)
        {
            clients.Add(await env.ConnectAsync());
            Assert.Equal($"s{i}", await Text(clients[i], $"s{i}"));
        }

        // The server stops accepting the access token: all four must refresh at the same moment.
        await server.ExpireAccessTokensAsync();
        var results = await Task.WhenAll(clients.Select((c, i) => Echo(c, $"r{i}")));
        Assert.All(results, r => Assert.False(r.IsError == true, string.Concat(r.Content.OfType<TextContentBlock>().Select(t => t.Text))));
        // No refresh token was presented twice. (A session whose 401 came before the first refresh was stored, but
        // which read the file after it, renews the new tokens once more: legitimate, and each token is still used once.)
        Assert.Equal(0, await server.StatAsync("refresh_refusals"));
        Assert.InRange(await server.StatAsync("refreshes"), 1, clients.Count);
        var auth = await env.RunCliAsync("auth", "status", "--json", "--config", env.ConfigPath);
        Assert.Equal("credentials_present", JsonDocument.Parse(auth.Stdout).RootElement.GetProperty("web").GetProperty("state").GetString());
    }

    [Fact]
    public async Task TokenEndpoint503_SaysTheServerIsUnavailable_KeepsTheTokens_AndCallsWorkWhenItIsBack()
    {
        await using var server = await OAuthTestServer.StartAsync("--access-ttl", "600");
        await using var env = await BrokerEnvironment.CreateAsync(Config(server));
        var tokenFile = Path.Combine(env.Root, "secrets", "oauth", "web.json");
        Assert.Equal(0, (await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http)).ExitCode);
        var client = await env.ConnectAsync();
        Assert.Equal("ok", await Text(client, "ok"));
        var before = Stored(tokenFile).GetProperty("refresh_token").GetString();

        await server.TokenEndpointUnavailableAsync(true);
        await server.ExpireAccessTokensAsync();
        var down = Error(await Echo(client, "x")).GetProperty("message").GetString()!;
        Assert.Contains("unavailable", down);
        Assert.Contains("HTTP 503", down);
        Assert.DoesNotContain("auth login", down);
        Assert.True(await server.StatAsync("token_unavailable") >= 1);
        Assert.Equal(before, Stored(tokenFile).GetProperty("refresh_token").GetString());
        var auth = await env.RunCliAsync("auth", "status", "--json", "--config", env.ConfigPath);
        Assert.Equal("credentials_present", JsonDocument.Parse(auth.Stdout).RootElement.GetProperty("web").GetProperty("state").GetString());

        // Back up: the kept tokens are refreshed and calls work again, without a login.
        await server.TokenEndpointUnavailableAsync(false);
        await Wait.UntilAsync(async () => (await Echo(client, "back")).IsError != true, "a call to work once the token endpoint is back");
        Assert.Equal(1, await server.StatAsync("refreshes"));
    }

    [Fact]
    public async Task Login_StrayRedirectWithAnotherState_IsRefusedAndIgnored_AndThePageSaysLoggedInAfterTheExchange()
    {
        await using var server = await OAuthTestServer.StartAsync();
        await using var env = await BrokerEnvironment.CreateAsync(Config(server));
        string? stray = null;
        var login = await OAuthLogin.RunAsync(env, "web", async authorization =>
        {
            // Another tab (an old login, a forged link) reaches the listener first.
            var callback = HttpUtility.ParseQueryString(authorization.Query)["redirect_uri"]!;
            using var http = new HttpClient();
            using var answer = await http.GetAsync(callback + "?code=forged&state=not-this-login");
            stray = $"{(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}";
            return await OAuthLogin.Http(authorization);
        });

        Assert.True(login.ExitCode == 0, login.Output);
        Assert.StartsWith("400 ", stray);
        Assert.Contains("does not belong to the pending login", stray);
        Assert.Contains("Logged in to web", Assert.Single(login.Pages).Text);
        Assert.Equal(1, await server.StatAsync("code_exchanges"));
    }

    [Fact]
    public async Task Login_TokenEndpoint503_BrowserAndTerminalSayTheServerIsUnavailable_WithoutWaitingForTheTimeout()
    {
        await using var server = await OAuthTestServer.StartAsync();
        await using var env = await BrokerEnvironment.CreateAsync(Config(server));
        await server.TokenEndpointUnavailableAsync(true);

        // A 10-minute login limit: a login that waited for it would fail the test by the shared wait timeout.
        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");

        Assert.Equal(1, login.ExitCode);
        Assert.Contains("unavailable", login.Output);
        Assert.Contains("HTTP 503", login.Output);
        Assert.Contains("try again later", login.Output);
        var page = Assert.Single(login.Pages);
        Assert.DoesNotContain("Logged in", page.Text);
        Assert.Contains("failed", page.Text);
        Assert.False(File.Exists(Path.Combine(env.Root, "secrets", "oauth", "web.json")));
    }

    [Fact]
    public async Task Login_WrongOrMissingClientSecret_SaysInvalidClientAndWhichSettingToFix()
    {
        await using var server = await OAuthTestServer.StartAsync("--no-registration", "--client", "broker-app", "--client-secret", "s3cret-right-value",
            "--client-redirect", "http://127.0.0.1/callback");
        const string withSecret = "{ client_id: broker-app, client_secret_file: web.secret }";
        await using var env = await BrokerEnvironment.CreateAsync(Config(server, withSecret));
        WriteSecret(Path.Combine(env.Root, "secrets", "web.secret"), "s3cret-wrong-value");

        var wrong = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("invalid_client", wrong.Output);
        Assert.Contains("upstreams.web.oauth.client_secret_file", wrong.Output);
        Assert.DoesNotContain("no redirect arrived", wrong.Output);
        Assert.DoesNotContain("s3cret", wrong.Output);
        Assert.Contains("failed", Assert.Single(wrong.Pages).Text);

        File.WriteAllText(env.ConfigPath, Config(server, "{ client_id: broker-app }")(env.Root));
        var missing = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("invalid_client", missing.Output);
        Assert.Contains("set upstreams.web.oauth.client_secret_file", missing.Output);

        File.WriteAllText(env.ConfigPath, Config(server, "{ client_id: broker-app, client_secret_file: absent.secret }")(env.Root));
        var absent = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");
        Assert.Equal(1, absent.ExitCode);
        Assert.Contains("oauth.client_secret_file: secret file", absent.Output);
        Assert.Contains("absent.secret does not exist", absent.Output);

        File.WriteAllText(env.ConfigPath, Config(server, withSecret)(env.Root));
        WriteSecret(Path.Combine(env.Root, "secrets", "web.secret"), "s3cret-right-value");
        var right = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");
        Assert.True(right.ExitCode == 0, right.Output);
    }

    [Fact]
    public async Task Login_ServerWithoutDynamicRegistration_SaysToSetClientIdSecretFileAndRedirectPort()
    {
        await using var server = await OAuthTestServer.StartAsync("--no-registration");
        await using var env = await BrokerEnvironment.CreateAsync(Config(server));

        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");

        Assert.Equal(1, login.ExitCode);
        Assert.Contains("offers no dynamic client registration", login.Output);
        Assert.Contains("upstreams.web.oauth.client_id", login.Output);
        Assert.Contains("oauth.client_secret_file", login.Output);
        Assert.Contains("oauth.redirect_port", login.Output);
        Assert.Empty(login.Pages);
    }

    [Fact]
    public async Task Login_ServerMatchingRedirectUrisExactly_SaysToSetRedirectPort_AndWorksWithIt()
    {
        var port = LoopbackServer.FreePort();
        await using var server = await OAuthTestServer.StartAsync("--no-registration", "--exact-redirect", "--client", "broker-app",
            "--client-redirect", $"http://127.0.0.1:{port}/callback");
        await using var env = await BrokerEnvironment.CreateAsync(Config(server, "{ client_id: broker-app }"));

        var refused = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http, timeout: "10m");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("Unregistered redirect_uri", refused.Output);
        Assert.Contains("set upstreams.web.oauth.redirect_port", refused.Output);
        Assert.Empty(refused.Pages);

        File.WriteAllText(env.ConfigPath, Config(server, $"{{ client_id: broker-app, redirect_port: {port} }}")(env.Root));
        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http);
        Assert.True(login.ExitCode == 0, login.Output);
    }

    [Fact]
    public async Task Login_StoredRegistrationTheServerForgot_RegistersAnewOnce()
    {
        var first = await OAuthTestServer.StartAsync();
        var port = first.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var env = await BrokerEnvironment.CreateAsync(Config(first));
        await using (first)
        {
            Assert.Equal(0, (await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http)).ExitCode);
        }

        // The same server restarted with no memory of its clients.
        await using var second = await OAuthTestServer.StartAsync("--port", port);
        var login = await OAuthLogin.RunAsync(env, "web", OAuthLogin.Http);

        Assert.True(login.ExitCode == 0, login.Output);
        Assert.Contains("registering anew", login.Output);
        Assert.Equal(1, await second.StatAsync("registrations"));
    }

    private static async Task<CallToolResult> Echo(McpClient client, string text) =>
        await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = text });

    private static Task<string> Text(McpClient client, string text) =>
        BrokerEnvironment.CallTextAsync(client, "web.echo", new() { ["text"] = text });

    private static async Task<JsonElement> Status(McpClient client) => (await BrokerEnvironment.UpstreamStatusAsync(client)).Single();

    private static JsonElement Error(CallToolResult result) => BrokerEnvironment.ErrorOf(result);

    private static JsonElement Stored(string tokenFile) => JsonDocument.Parse(File.ReadAllText(tokenFile)).RootElement.Clone();

    private static void WriteSecret(string path, string value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, value);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private static void AssertNotInLogs(BrokerEnvironment env, string secret)
    {
        var logs = Path.Combine(env.Root, "logs");
        foreach (var file in Directory.Exists(logs) ? Directory.GetFiles(logs, "*", SearchOption.AllDirectories) : [])
        {
            Assert.DoesNotContain(secret, File.ReadAllText(file), StringComparison.Ordinal);
        }
    }
}
