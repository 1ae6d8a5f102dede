using McpBroker.Auth;
using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Authentication;

namespace McpBroker.Tests.Config;

/// <summary>Config rules, passive auth probes and the OAuth token file of http/sse upstreams.</summary>
public sealed class RemoteUpstreamRulesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mb-remote-").FullName;

    private readonly Dictionary<string, string> _env = new() { ["HOME"] = "/home/ada", ["API_TOKEN_HOST"] = "tok_secret_value_123456789" };

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private ConfigLoadResult Load(string upstream) => ConfigLoader.Load($"""
        schema_version: 1
        runtime: {"{"} root: "{_root}" {"}"}
        upstreams:
          web:
        {upstream}
        """, "/etc/broker.yaml", _env.GetValueOrDefault);

    private static string Errors(ConfigLoadResult result) => string.Join("\n", result.Errors.Select(e => e.ToString()));

    [Fact]
    public void Http_WithUrlAndHeaderTemplate_BuildsARemoteModel_AndShowsOnlyTheTemplate()
    {
        var result = Load("""
                transport: http
                url: https://mcp.example.com/mcp?tenant=acme
                env_from: { API_TOKEN: API_TOKEN_HOST }
                headers: { Authorization: "Bearer ${API_TOKEN}", X-Tenant: acme }
                tools: { search: { idempotent: true } }
            """);

        Assert.True(result.IsValid, Errors(result));
        var web = result.Model!.Upstreams.Single();
        Assert.Equal(UpstreamTransport.Http, web.Transport);
        Assert.Equal("https://mcp.example.com/mcp", web.Remote!.DisplayUrl);
        Assert.Equal("Bearer ${API_TOKEN}", web.Remote.Headers["authorization"]);
        Assert.True(web.ToolOverrides["search"].Idempotent);
        var shown = ConfigShow.Render(result.Model, _env.GetValueOrDefault);
        Assert.Contains("Authorization: Bearer ${API_TOKEN}", shown);
        Assert.DoesNotContain("tok_secret_value", shown);
        Assert.Equal("Bearer tok_secret_value_123456789", RemoteConnection.ResolveHeaders(web.Remote, new Dictionary<string, string> { ["API_TOKEN"] = "tok_secret_value_123456789" })["Authorization"]);
    }

    [Theory]
    [InlineData("transport: http", "upstreams.web.url", "needs a url")]
    [InlineData("transport: sse\n    url: ftp://example.com/sse", "upstreams.web.url", "not an absolute http:// or https:// URL")]
    [InlineData("transport: http\n    url: https://bob:pw@example.com/mcp", "upstreams.web.url", "user name or password")]
    [InlineData("transport: http\n    url: https://example.com/mcp?api_key=abc", "upstreams.web.url", "'api_key' looks like a credential")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    headers: { Authorization: \"Bearer ghp_0123456789abcdefABCDEF0123456789abcd\" }", "upstreams.web.headers.Authorization", "come only from env_from or env_files")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    headers: { X-Api-Key: plainvalue }", "upstreams.web.headers.X-Api-Key", "come only from env_from or env_files")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    headers: { Authorization: \"Bearer ${NOPE}\" }", "upstreams.web.headers.Authorization", "${NOPE} names no key of env_from or env_files")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    headers: { Authorization: \"Bearer $TOKEN\" }", "upstreams.web.headers.Authorization", "write references as ${KEY}")]
    [InlineData("transport: http\n    url: https://example.com/s/Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg/mcp", "upstreams.web.url", "part of the url's path looks like a credential")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    env_from: { T: API_TOKEN_HOST }\n    headers: { Cookie: \"sid=${T}; x=abc123secretvalue\" }", "upstreams.web.headers.Cookie", "come only from env_from or env_files")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    headers: { X-Key: hunter2pass }", "upstreams.web.headers.X-Key", "come only from env_from or env_files")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    command: npx", "upstreams.web.command", "for stdio upstreams")]
    [InlineData("command: npx\n    url: https://example.com/mcp", "upstreams.web.url", "this upstream is stdio")]
    [InlineData("url: https://example.com/mcp", "upstreams.web.command", "set transport: http")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    oauth: {}\n    env_from: { T: API_TOKEN_HOST }\n    headers: { Authorization: \"Bearer ${T}\" }", "upstreams.web.headers.Authorization", "oauth sets the Authorization header")]
    [InlineData("transport: http\n    url: https://example.com/mcp\n    oauth: { redirect_port: 70000 }", "upstreams.web.oauth.redirect_port", "must be a TCP port")]
    public void BadRemoteConfig_IsRefusedWithItsPathAndTheFix(string upstream, string path, string message)
    {
        var result = Load("    " + upstream);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal));
        Assert.DoesNotContain("ghp_0123456789", Errors(result), StringComparison.Ordinal);
    }

    [Fact]
    public void ReadmeConfigExample_IsValid()
    {
        var readme = File.ReadAllText(Path.Combine(Support.Repo.Root, "README.md"));
        var start = readme.IndexOf("```yaml\nschema_version: 1", StringComparison.Ordinal) + "```yaml\n".Length;
        var yaml = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];

        var result = ConfigLoader.Load(yaml, "/etc/broker.yaml", new Dictionary<string, string> { ["HOME"] = "/home/ada", ["MY_HOST_VARIABLE"] = "x", ["GITHUB_TOKEN"] = "y" }.GetValueOrDefault);

        Assert.True(result.IsValid, Errors(result));
        Assert.Equal(UpstreamTransport.Http, result.Model!.FindUpstream("github")!.Transport);
        Assert.NotNull(result.Model.FindUpstream("linear")!.Remote!.OAuth);
    }

    [Fact]
    public void UnusedSecretKey_OnARemoteUpstream_IsAWarning()
    {
        var result = Load("    transport: http\n    url: https://example.com/mcp\n    env_from: { T: API_TOKEN_HOST }");

        Assert.True(result.IsValid, Errors(result));
        Assert.Contains(result.Warnings, w => w.Message.Contains("'T' (env_from/env_files) is used by no header", StringComparison.Ordinal));
    }

    [Fact]
    public void AuthProbe_NamesWhatIsMissing_WithoutReadingTheNetwork()
    {
        var secrets = Path.Combine(_root, "secrets");
        Directory.CreateDirectory(secrets);
        File.WriteAllText(Path.Combine(secrets, "open.token"), "value");
        File.SetUnixFileMode(Path.Combine(secrets, "open.token"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        File.WriteAllText(Path.Combine(secrets, "empty.token"), "");
        var result = Load("""
                transport: http
                url: https://example.com/mcp
                env_from: { A: UNSET_VARIABLE }
                env_files: { B: open.token, C: empty.token }
                headers: { X-A: "${A}", X-B: "${B}", X-C: "${C}" }
            """);
        Assert.True(result.IsValid, Errors(result));

        var probe = AuthProbe.Of(result.Model!.Upstreams.Single(), _env.GetValueOrDefault, DateTimeOffset.UtcNow);

        Assert.Equal(AuthProbe.CredentialsMissing, probe.State);
        Assert.Equal(3, probe.Missing.Count);
        Assert.Contains("host variable UNSET_VARIABLE is not set", probe.Missing[0]);
        Assert.Contains("readable by others; run chmod 600", probe.Missing[1]);
        Assert.Contains("is empty", probe.Missing[2]);
    }

    [Fact]
    public void AuthProbe_NoSecrets_IsNone_AndPresentSecretsArePresent()
    {
        var none = Load("    transport: http\n    url: https://example.com/mcp");
        var present = Load("    transport: http\n    url: https://example.com/mcp\n    env_from: { T: API_TOKEN_HOST }\n    headers: { Authorization: \"Bearer ${T}\" }");

        Assert.Equal(AuthProbe.None, AuthProbe.Of(none.Model!.Upstreams.Single(), _env.GetValueOrDefault, DateTimeOffset.UtcNow).State);
        Assert.Equal(AuthProbe.CredentialsPresent, AuthProbe.Of(present.Model!.Upstreams.Single(), _env.GetValueOrDefault, DateTimeOffset.UtcNow).State);
    }

    [Theory]
    [InlineData(true, "credentials_present", "the refresh token renews it")]
    [InlineData(false, "oauth_refresh_expired", "no refresh token; run: mcp-broker auth login web")]
    public void AuthProbe_ExpiredOAuthToken_DependsOnTheRefreshToken(bool hasRefresh, string state, string detail)
    {
        var web = Load("    transport: http\n    url: https://example.com/mcp\n    oauth: {}").Model!.Upstreams.Single();
        var obtained = DateTimeOffset.UtcNow.AddHours(-2);
        new OAuthTokenStore(web.Remote!.OAuth!.TokenFile).Write(new StoredTokens
        {
            AccessToken = "access-abc",
            RefreshToken = hasRefresh ? "refresh-abc" : null,
            ObtainedAt = obtained,
            ExpiresAt = obtained.AddHours(1),
        });

        var probe = AuthProbe.Of(web, _env.GetValueOrDefault, DateTimeOffset.UtcNow);

        Assert.Equal(state, probe.State);
        Assert.Contains(detail, probe.Detail);
        Assert.Equal(obtained.AddHours(1), probe.ExpiresAt);
        Assert.DoesNotContain("abc", probe.ToJson().ToJsonString());
    }

    [Fact]
    public async Task TokenStore_Writes0600_ReportsExpiryEarly_AndKeepsTheRefreshTokenARefreshOmits()
    {
        var store = new OAuthTokenStore(Path.Combine(_root, "secrets", "oauth", "web.json"));
        var obtained = DateTimeOffset.UtcNow;
        await store.StoreTokensAsync(new TokenContainer { TokenType = "Bearer", AccessToken = "a1", RefreshToken = "r1", ExpiresIn = 3600, ObtainedAt = obtained, ClientId = "c1" }, default);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.Path));
        var read = await store.GetTokensAsync(default);
        Assert.Equal(3600 - (int)OAuthTokenStore.RefreshMargin.TotalSeconds, read!.ExpiresIn);
        Assert.Equal("c1", read.ClientId);

        await store.StoreTokensAsync(new TokenContainer { TokenType = "Bearer", AccessToken = "a2", ExpiresIn = 3600, ObtainedAt = obtained.AddMinutes(50) }, default);
        var refreshed = store.Read()!;
        Assert.Equal("a2", refreshed.AccessToken);
        Assert.Equal("r1", refreshed.RefreshToken);
        Assert.Equal("c1", refreshed.ClientId);
        Assert.NotNull(refreshed.RefreshedAt);
    }

    [Fact]
    public void TokenStore_DamagedFile_IsAnErrorThatSaysToLogInAgain()
    {
        var path = Path.Combine(_root, "web.json");
        File.WriteAllText(path, "{ not json");

        var error = Assert.Throws<InvalidDataException>(() => new OAuthTokenStore(path).Read());

        Assert.Contains("run mcp-broker auth login again", error.Message);
    }
}
