using System.Net;
using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Auth;

/// <summary>
/// The token endpoint as each upstream credential sees it: refreshes one at a time from what is stored, a refusal
/// recorded with its reason, a replaced token file used instead of giving up, a 5xx that leaves the tokens alone.
/// The "server" here is a stub token endpoint (an HttpMessageHandler), not MCP.
/// </summary>
public sealed class TokenEndpointHandlerTests : IDisposable
{
    private static readonly Uri TokenEndpoint = new("https://auth.example.com/token");

    private readonly string _dir = Directory.CreateTempSubdirectory("mb-token-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task RefreshWhileAnotherIsUnderWay_WaitsAndAnswersWithTheTokensItStored_TheServerSeesOneRefresh()
    {
        var credential = Credential("rt-1");
        var release = new TaskCompletionSource();
        var server = new StubTokenEndpoint(async (fields, n) =>
        {
            await release.Task;
            return fields["refresh_token"] == "rt-1" ? Tokens($"at-{n}", "rt-2") : Refused("invalid_grant");
        });
        using var http = Client(credential, server);

        var first = http.SendAsync(RefreshRequest("rt-1"));
        var second = http.SendAsync(RefreshRequest("rt-1"));
        await Wait.UntilAsync(() => server.Requests == 1, "the first refresh to reach the server");
        Assert.False(second.IsCompleted);
        release.SetResult();

        using var a = await first;
        using var b = await second;
        Assert.Equal(HttpStatusCode.OK, a.StatusCode);
        Assert.Equal(HttpStatusCode.OK, b.StatusCode);
        Assert.Equal(1, server.Requests);
        Assert.Equal("at-1", JsonNode.Parse(await b.Content.ReadAsStringAsync())!["access_token"]!.ToString());
        Assert.Equal("rt-2", credential.Store.Read()!.RefreshToken);
    }

    [Fact]
    public async Task TheSdksLateStoreOfAnAnswer_DoesNotPutAUsedRefreshTokenBack()
    {
        var credential = Credential("rt-1");
        var server = new StubTokenEndpoint((fields, n) => Task.FromResult(Tokens($"at-{n + 1}", $"rt-{n + 1}")));
        using var http = Client(credential, server);
        using (await http.SendAsync(RefreshRequest("rt-1")))
        using (await http.SendAsync(RefreshRequest("rt-2")))
        {
            Assert.Equal("rt-3", credential.Store.Read()!.RefreshToken);
        }

        // The SDK of the first refresh stores its answer only now, after the second refresh stored newer tokens.
        await new OAuthTokenStore(credential.Store.Path).StoreTokensAsync(new ModelContextProtocol.Authentication.TokenContainer
        {
            AccessToken = "at-2",
            RefreshToken = "rt-2",
            TokenType = "Bearer",
            ObtainedAt = DateTimeOffset.UtcNow,
            ExpiresIn = 3600,
        }, CancellationToken.None);

        Assert.Equal("rt-3", credential.Store.Read()!.RefreshToken);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task InvalidGrant_AfterTheFileWasReplacedMeanwhile_UsesTheStoredTokensAndRecordsNoRefusal()
    {
        var credential = Credential("rt-old");
        var server = new StubTokenEndpoint((_, _) =>
        {
            // A login in another process replaced the tokens while this refresh was on its way.
            credential.Store.Write(Stored("at-login", "rt-login"));
            return Task.FromResult(Refused("invalid_grant"));
        });
        using var http = Client(credential, server);

        using var answer = await http.SendAsync(RefreshRequest("rt-old"));

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("at-login", JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["access_token"]!.ToString());
        Assert.Null(credential.Store.Read()!.RefusedAt);
    }

    [Fact]
    public async Task InvalidGrant_IsRecordedWithItsReason_AndTheSameTokenIsNotSentAgain()
    {
        var credential = Credential("rt-revoked");
        var server = new StubTokenEndpoint((_, _) => Task.FromResult(Refused("invalid_grant", "refresh token revoked")));
        using var http = Client(credential, server);

        using var first = await http.SendAsync(RefreshRequest("rt-revoked"));
        using var again = await http.SendAsync(RefreshRequest("rt-revoked"));

        Assert.Equal(HttpStatusCode.BadRequest, first.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.Equal(1, server.Requests);
        var stored = credential.Store.Read()!;
        Assert.NotNull(stored.RefusedAt);
        Assert.Contains("invalid_grant: refresh token revoked", stored.Refused);
        Assert.DoesNotContain("rt-revoked", stored.Refused);
    }

    [Fact]
    public async Task Unavailable_KeepsTheTokensAsTheyAre_AndIsTheLastFailure()
    {
        var credential = Credential("rt-1");
        var server = new StubTokenEndpoint((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)));
        using var http = Client(credential, server);

        using var answer = await http.SendAsync(RefreshRequest("rt-1"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.True(credential.LastFailure!.Unavailable);
        Assert.Equal("HTTP 503", credential.LastFailure.Describe());
        var stored = credential.Store.Read()!;
        Assert.Null(stored.RefusedAt);
        Assert.Equal("rt-1", stored.RefreshToken);
        Assert.Contains("is unavailable", OAuthSupport.Unusable("web", credential.Store.Path, TimeProvider.System));
    }

    [Fact]
    public async Task McpMessages_PassUntouched()
    {
        var credential = Credential("rt-1");
        var server = new StubTokenEndpoint((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.Accepted)));
        using var http = Client(credential, server);

        using var answer = await http.PostAsync(new Uri("https://mcp.example.com/mcp"), new StringContent("""{"jsonrpc":"2.0","method":"ping","id":1}"""));

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        Assert.Equal(1, server.Requests);
        Assert.Null(credential.LastFailure);
    }

    private OAuthCredential Credential(string refreshToken)
    {
        var file = Path.Combine(_dir, "oauth", Guid.NewGuid().ToString("N") + ".json");
        var credential = OAuthCredential.For(file);
        credential.Store.Write(Stored("at-0", refreshToken));
        return credential;
    }

    private static StoredTokens Stored(string access, string refresh) => new()
    {
        AccessToken = access,
        RefreshToken = refresh,
        TokenType = "Bearer",
        ObtainedAt = DateTimeOffset.UtcNow,
        ExpiresAt = DateTimeOffset.UtcNow.AddHours(1),
        ClientId = "client-1",
    };

    private static HttpClient Client(OAuthCredential credential, HttpMessageHandler server) => new(new TokenEndpointHandler(credential, server));

    private static HttpRequestMessage RefreshRequest(string refreshToken) => new(HttpMethod.Post, TokenEndpoint)
    {
        Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken, ["client_id"] = "client-1" }),
    };

    private static HttpResponseMessage Tokens(string access, string refresh) => new(HttpStatusCode.OK)
    {
        Content = new StringContent(new JsonObject { ["access_token"] = access, ["refresh_token"] = refresh, ["token_type"] = "Bearer", ["expires_in"] = 3600 }.ToJsonString()),
    };

    private static HttpResponseMessage Refused(string error, string? description = null) => new(HttpStatusCode.BadRequest)
    {
        Content = new StringContent(new JsonObject { ["error"] = error, ["error_description"] = description }.ToJsonString()),
    };

    /// <summary>A token endpoint: answers each request from its form fields and its number (1, 2, …).</summary>
    private sealed class StubTokenEndpoint(Func<System.Collections.Specialized.NameValueCollection, int, Task<HttpResponseMessage>> answer) : HttpMessageHandler
    {
        private int _requests;

        public int Requests => _requests;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var n = Interlocked.Increment(ref _requests);
            var fields = request.Content is FormUrlEncodedContent form
                ? System.Web.HttpUtility.ParseQueryString(await form.ReadAsStringAsync(cancellationToken))
                : new System.Collections.Specialized.NameValueCollection();
            return await answer(fields, n);
        }
    }
}
