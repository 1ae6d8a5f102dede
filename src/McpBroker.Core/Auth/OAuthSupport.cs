using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Authentication;

namespace McpBroker.Auth;

/// <summary>The SDK's OAuth client options for an upstream: its token file, client, scopes and how authorization happens.</summary>
public static class OAuthSupport
{
    /// <summary>How long a token endpoint's 5xx/429 explains a failed renewal (it is cleared by the next success anyway).</summary>
    private static readonly TimeSpan UnavailableWindow = TimeSpan.FromMinutes(1);

    public static ClientOAuthOptions Options(UpstreamModel model, OAuthModel oauth, Uri redirectUri,
        Func<AuthorizationCallbackContext, CancellationToken, Task<AuthorizationResult?>> authorize, ITokenCache? tokenCache = null,
        Func<DynamicClientRegistrationResponse, CancellationToken, Task>? registered = null) => new()
        {
            RedirectUri = redirectUri,
            ClientId = oauth.ClientId,
            ClientSecret = oauth.ClientSecretFile is { } file ? SecretFile.Read(file, $"upstreams.{model.Name}.oauth.client_secret_file") : null,
            Scopes = oauth.Scopes,
            TokenCache = tokenCache ?? new OAuthTokenStore(oauth.TokenFile),
            AuthorizationCallbackHandler = authorize,
            DynamicClientRegistration = new DynamicClientRegistrationOptions { ClientName = "mcp-broker", ResponseDelegate = registered },
        };

    /// <summary>
    /// The daemon's options: it never prompts. The SDK asks for an authorization only when the stored tokens cannot be
    /// used or renewed, and the answer says why — the token endpoint is down (tokens kept, try later), or the server
    /// refused them (recorded in the token file for status and doctor; log in again).
    /// </summary>
    public static ClientOAuthOptions DaemonOptions(UpstreamModel model, OAuthModel oauth, TimeProvider time) =>
        Options(model, oauth, new Uri("http://127.0.0.1/callback"), (_, _) => throw new SecretUnavailableException(Unusable(model.Name, oauth.TokenFile, time)));

    /// <summary>Why the stored tokens of <paramref name="name"/> cannot be used now; records a refusal not yet recorded.</summary>
    public static string Unusable(string name, string tokenFile, TimeProvider time)
    {
        var credential = OAuthCredential.For(tokenFile);
        if (credential.LastFailure is { Unavailable: true } down && time.GetUtcNow() - down.At < UnavailableWindow)
        {
            return $"the authorization server of upstream '{name}' is unavailable: its token endpoint answered {down.Describe()} when the tokens were to be renewed; " +
                "the stored tokens are kept and the next request tries again (retry later; no new login is needed)";
        }

        if (credential.Store.SafeRead() is not { } stored)
        {
            return $"no OAuth tokens for upstream '{name}'; run: mcp-broker auth login {name}";
        }

        var why = stored.Refused;
        if (stored.RefusedAt is null)
        {
            why = stored.RefreshToken is { Length: > 0 }
                ? "the server refused the access token and it could not be renewed"
                : "the server refused the access token and there is no refresh token to renew it";
            credential.Store.RecordRefusal(why, time.GetUtcNow());
        }

        return $"the OAuth tokens of upstream '{name}' were refused ({why}); run: mcp-broker auth login {name}";
    }
}
