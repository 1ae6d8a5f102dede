using System.Text.Json;
using System.Text.Json.Serialization;
using ModelContextProtocol.Authentication;

namespace McpBroker.Auth;

/// <summary>
/// The client the broker registered with an upstream's authorization server (dynamic client registration), kept beside
/// the token file (<c>NAME.client.json</c>, 0600) so the next login — after a logout, a refusal, a revoked grant — uses
/// the same client and the same redirect URI instead of registering another one. A logout keeps it: it is not a token.
/// </summary>
public sealed record OAuthRegistration
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    public required string ClientId { get; init; }

    public string? ClientSecret { get; init; }

    /// <summary>Unix seconds; 0 or null: the secret does not expire.</summary>
    public long? ClientSecretExpiresAt { get; init; }

    public string? TokenEndpointAuthMethod { get; init; }

    /// <summary>The issuer the client is registered with, as the SDK selected it.</summary>
    public required string AuthorizationServer { get; init; }

    /// <summary>The redirect URI registered for the client: the next login listens on the same port.</summary>
    public required Uri RedirectUri { get; init; }

    /// <summary>The upstream URL the registration was made for; another URL registers anew.</summary>
    public required Uri Server { get; init; }

    public DateTimeOffset RegisteredAt { get; init; }

    public static string PathFor(string tokenFile) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(tokenFile)!, System.IO.Path.GetFileNameWithoutExtension(tokenFile) + ".client.json");

    /// <summary>The stored registration, or null when there is none or it cannot be read (then the login registers anew).</summary>
    public static OAuthRegistration? Read(string tokenFile)
    {
        var path = PathFor(tokenFile);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<OAuthRegistration>(File.ReadAllText(path), s_json) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Write(string tokenFile)
    {
        var path = PathFor(tokenFile);
        OAuthTokenStore.PrivateDirectory(System.IO.Path.GetDirectoryName(path)!);
        Platform.AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this, s_json), Platform.PrivateFiles.FileMode);
    }

    public static void Delete(string tokenFile) => File.Delete(PathFor(tokenFile));

    /// <summary>Whether it can serve a login to <paramref name="server"/> at <paramref name="now"/>.</summary>
    public bool ValidFor(Uri server, DateTimeOffset now) =>
        Server == server && (ClientSecretExpiresAt is not > 0 || DateTimeOffset.FromUnixTimeSeconds(ClientSecretExpiresAt.Value) > now.AddMinutes(5));

    /// <summary>
    /// A token cache that, while the login has no tokens yet, offers the SDK this client (with no usable token): the SDK
    /// restores a client from its cache before it would register one, so the login goes straight to authorization.
    /// </summary>
    public ITokenCache Seed(ITokenCache inner) => new SeededCache(inner, this);

    private sealed class SeededCache(ITokenCache inner, OAuthRegistration registration) : ITokenCache
    {
        public async ValueTask<TokenContainer?> GetTokensAsync(CancellationToken cancellationToken) =>
            await inner.GetTokensAsync(cancellationToken) ?? new TokenContainer
            {
                TokenType = "Bearer",
                AccessToken = "",
                ExpiresIn = 0,
                ObtainedAt = DateTimeOffset.UnixEpoch,
                ClientId = registration.ClientId,
                ClientSecret = registration.ClientSecret,
                TokenEndpointAuthMethod = registration.TokenEndpointAuthMethod,
                AuthorizationServer = registration.AuthorizationServer,
            };

        public ValueTask StoreTokensAsync(TokenContainer tokens, CancellationToken cancellationToken) => inner.StoreTokensAsync(tokens, cancellationToken);
    }
}
