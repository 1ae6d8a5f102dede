using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Web;
using ModelContextProtocol.Authentication;

namespace McpBroker.Auth;

/// <summary>
/// One upstream credential (one token file) as the whole process sees it. Every SDK OAuth provider of the upstream
/// (a per-session upstream has one per session) reaches the token endpoint through <see cref="TokenEndpointHandler"/>
/// with this credential, so its refreshes happen one at a time and each starts from what the previous one stored: a
/// server that rotates refresh tokens sees each refresh token once.
/// </summary>
public sealed class OAuthCredential
{
    private static readonly ConcurrentDictionary<string, OAuthCredential> s_all = new(StringComparer.Ordinal);

    private OAuthCredential(string tokenFile)
    {
        Store = new OAuthTokenStore(tokenFile);
    }

    public OAuthTokenStore Store { get; }

    /// <summary>The last failed answer of the token endpoint to this credential; null after a success.</summary>
    public TokenEndpointFailure? LastFailure { get; internal set; }

    /// <summary>Held while a refresh is under way (from the request until its tokens are stored).</summary>
    internal SemaphoreSlim RefreshGate { get; } = new(1, 1);

    /// <summary>Access tokens the handler stored or answered from the file, newest last (a few are enough).</summary>
    private readonly ConcurrentQueue<string> _handled = new();

    /// <summary>
    /// The SDK stores the tokens of a token endpoint answer after the handler returned it — outside the gate, so
    /// possibly after the next refresh stored newer ones. Those tokens are in the file already; writing them again
    /// would put a used refresh token back.
    /// </summary>
    internal bool Handled(string accessToken) => _handled.Contains(accessToken);

    internal void MarkHandled(string accessToken)
    {
        _handled.Enqueue(accessToken);
        while (_handled.Count > 16)
        {
            _handled.TryDequeue(out _);
        }
    }

    public static OAuthCredential For(string tokenFile) => s_all.GetOrAdd(Path.GetFullPath(tokenFile), f => new OAuthCredential(f));
}

/// <summary>A token endpoint's refusal or failure: its HTTP status and OAuth error, never a token.</summary>
public sealed record TokenEndpointFailure(string Grant, int Status, string? Error, string? Description, DateTimeOffset At)
{
    /// <summary>The server is down or overloaded: the request may work later, and the tokens stay as they are.</summary>
    public bool Unavailable => Status is >= 500 or 429;

    public string Describe() =>
        $"HTTP {Status}" + (Error is null ? "" : $", {Error}") + (Description is { Length: > 0 } d ? $": {d}" : "");

    internal static async Task<TokenEndpointFailure> ReadAsync(HttpResponseMessage response, string grant, DateTimeOffset at, CancellationToken ct)
    {
        string? error = null, description = null;
        try
        {
            await response.Content.LoadIntoBufferAsync(ct);
            if (JsonNode.Parse(await response.Content.ReadAsStringAsync(ct)) is JsonObject body)
            {
                error = (body["error"] as JsonValue)?.ToString();
                description = (body["error_description"] as JsonValue)?.ToString();
            }
        }
        catch (JsonException)
        {
            // Not an OAuth error body (a proxy's HTML page): the status says enough.
        }

        return new TokenEndpointFailure(grant, (int)response.StatusCode, Short(error, 40), Short(description, 200), at);
    }

    private static string? Short(string? text, int max) => text is null ? null
        : new string([.. text.Take(max).Select(c => char.IsControl(c) ? ' ' : c)]);
}

/// <summary>
/// Sits in front of the HTTP stack of an OAuth upstream and sees the SDK's token endpoint requests (form posts with a
/// grant_type; MCP messages are JSON and pass untouched). A refresh holds its credential's gate until the new tokens are
/// stored; one that finds the stored refresh token already renewed by someone else answers with the stored tokens
/// instead of spending a used refresh token; an <c>invalid_grant</c> re-reads the file (a login, or another process,
/// may have replaced the tokens) before it gives up, and then records the refusal in the token file.
/// </summary>
public sealed class TokenEndpointHandler(OAuthCredential credential, HttpMessageHandler inner, Action<string, TokenEndpointFailure?>? observe = null, TimeProvider? time = null)
    : DelegatingHandler(inner)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Method != HttpMethod.Post || request.Content is not FormUrlEncodedContent content)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        var fields = HttpUtility.ParseQueryString(await content.ReadAsStringAsync(cancellationToken));
        if (fields["grant_type"] is not { } grant)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        if (grant == "refresh_token")
        {
            await credential.RefreshGate.WaitAsync(cancellationToken);
            try
            {
                return await RefreshAsync(request, fields, cancellationToken);
            }
            finally
            {
                credential.RefreshGate.Release();
            }
        }

        var response = await base.SendAsync(request, cancellationToken);
        var failure = response.IsSuccessStatusCode ? null : await TokenEndpointFailure.ReadAsync(response, grant, _time.GetUtcNow(), cancellationToken);
        credential.LastFailure = failure;
        observe?.Invoke(grant, failure);
        return response;
    }

    private async Task<HttpResponseMessage> RefreshAsync(HttpRequestMessage request, System.Collections.Specialized.NameValueCollection fields, CancellationToken ct)
    {
        var presented = fields["refresh_token"];
        var stored = credential.Store.SafeRead();
        if (stored is { RefreshToken: { Length: > 0 } current } && current != presented)
        {
            // Renewed by another session while this one waited for the gate.
            if (Usable(stored))
            {
                return Answer(request, stored);
            }

            presented = current;
        }
        else if (stored is { RefusedAt: not null, Refused: { } why } && stored.RefreshToken == presented)
        {
            // Already refused: asking again would only be refused again.
            return new HttpResponseMessage(HttpStatusCode.BadRequest)
            {
                RequestMessage = request,
                Content = new StringContent(new JsonObject { ["error"] = "invalid_grant", ["error_description"] = why }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
            };
        }

        for (var attempt = 1; ; attempt++)
        {
            fields["refresh_token"] = presented;
            using var send = new HttpRequestMessage(HttpMethod.Post, request.RequestUri) { Content = new FormUrlEncodedContent(Pairs(fields)) };
            foreach (var header in request.Headers)
            {
                send.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            var response = await base.SendAsync(send, ct);
            if (response.IsSuccessStatusCode)
            {
                await StoreAsync(response, ct);
                credential.LastFailure = null;
                observe?.Invoke("refresh_token", null);
                return response;
            }

            var failure = await TokenEndpointFailure.ReadAsync(response, "refresh_token", _time.GetUtcNow(), ct);
            credential.LastFailure = failure;
            observe?.Invoke("refresh_token", failure);
            if (failure.Error == "invalid_grant" && attempt == 1 && credential.Store.SafeRead() is { RefreshToken: { Length: > 0 } renewed } again && renewed != presented)
            {
                // Replaced meanwhile outside this process (a login, another daemon): use what is stored now.
                response.Dispose();
                if (Usable(again))
                {
                    return Answer(request, again);
                }

                presented = renewed;
                continue;
            }

            if (!failure.Unavailable)
            {
                credential.Store.RecordRefusal(failure.Error == "invalid_client"
                    ? $"the authorization server refused the client ({failure.Describe()}); check oauth.client_id and oauth.client_secret_file"
                    : $"the authorization server refused the refresh token ({failure.Describe()})", failure.At);
            }

            return response;
        }
    }

    /// <summary>Not refused and not yet due for renewal itself: then it is the answer to a refresh.</summary>
    private bool Usable(StoredTokens stored) =>
        stored.RefusedAt is null && (stored.ExpiresAt is not { } at || at - _time.GetUtcNow() > OAuthTokenStore.Margin(stored.ObtainedAt, at));

    /// <summary>The stored tokens as a token endpoint would answer them (the SDK then stores the same tokens again).</summary>
    private HttpResponseMessage Answer(HttpRequestMessage request, StoredTokens stored)
    {
        var body = new JsonObject
        {
            ["access_token"] = stored.AccessToken,
            ["token_type"] = stored.TokenType ?? "Bearer",
            ["refresh_token"] = stored.RefreshToken,
            ["scope"] = stored.Scope,
        };
        if (stored.ExpiresAt is { } at)
        {
            body["expires_in"] = (int)Math.Floor((at - _time.GetUtcNow()).TotalSeconds);
        }

        credential.MarkHandled(stored.AccessToken);
        return new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = request,
            Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
    }

    /// <summary>Stores the new tokens before the gate opens, so the next refresh starts from them.</summary>
    private async Task StoreAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await response.Content.LoadIntoBufferAsync(ct);
        try
        {
            if (JsonNode.Parse(await response.Content.ReadAsStringAsync(ct)) is JsonObject body && body["access_token"]?.ToString() is { Length: > 0 } access)
            {
                await credential.Store.StoreTokensAsync(new TokenContainer
                {
                    AccessToken = access,
                    TokenType = body["token_type"]?.ToString() ?? "Bearer",
                    RefreshToken = body["refresh_token"]?.ToString(),
                    ExpiresIn = body["expires_in"] is JsonValue expires && expires.TryGetValue<int>(out var seconds) ? seconds : null,
                    Scope = body["scope"]?.ToString(),
                    ObtainedAt = _time.GetUtcNow(),
                }, ct);
                credential.MarkHandled(access);
            }
        }
        catch (JsonException)
        {
            // The SDK reports an unreadable answer itself.
        }
    }

    private static IEnumerable<KeyValuePair<string, string>> Pairs(System.Collections.Specialized.NameValueCollection fields) =>
        fields.AllKeys.Where(k => k is not null).Select(k => new KeyValuePair<string, string>(k!, fields[k] ?? ""));
}
