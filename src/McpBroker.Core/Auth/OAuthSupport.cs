using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Authentication;

namespace McpBroker.Auth;

/// <summary>The SDK's OAuth client options for an upstream: its token file, client, scopes and how authorization happens.</summary>
public static class OAuthSupport
{
    public static ClientOAuthOptions Options(UpstreamModel model, OAuthModel oauth, Uri redirectUri,
        Func<AuthorizationCallbackContext, CancellationToken, Task<AuthorizationResult?>> authorize) => new()
        {
            RedirectUri = redirectUri,
            ClientId = oauth.ClientId,
            ClientSecret = oauth.ClientSecretFile is { } file ? SecretFile.Read(file, $"upstreams.{model.Name}.oauth.client_secret_file") : null,
            Scopes = oauth.Scopes,
            TokenCache = new OAuthTokenStore(oauth.TokenFile),
            AuthorizationCallbackHandler = authorize,
            DynamicClientRegistration = new DynamicClientRegistrationOptions { ClientName = "mcp-broker" },
        };
}
