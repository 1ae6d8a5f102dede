using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Auth;

/// <summary>
/// What an upstream's credentials look like from here, without a network call: the host variables env_from reads,
/// the secret files env_files (and oauth.client_secret_file) read — present, non-empty, 0600 — and the OAuth token
/// file's fields and expiry.
/// </summary>
public sealed record AuthProbe(string State, IReadOnlyList<string> Missing, DateTimeOffset? ExpiresAt, string? Detail)
{
    public const string None = "none";
    public const string CredentialsPresent = "credentials_present";
    public const string CredentialsMissing = "credentials_missing";
    public const string OAuthRefreshExpired = "oauth_refresh_expired";
    public const string CredentialsRefused = "credentials_refused";

    /// <summary>Whether the upstream cannot authenticate as things stand (status shows it red, doctor as a problem).</summary>
    public bool IsProblem => State is CredentialsMissing or OAuthRefreshExpired or CredentialsRefused;

    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static AuthProbe Of(UpstreamModel upstream, Func<string, string?> getEnv, DateTimeOffset now)
    {
        var missing = new List<string>();
        foreach (var (key, variable) in upstream.EnvFrom.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (string.IsNullOrEmpty(getEnv(variable)))
            {
                missing.Add($"env_from.{key}: host variable {variable} is not set");
            }
        }

        foreach (var (key, file) in upstream.EnvFiles.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            CheckFile(file, $"env_files.{key}", missing);
        }

        var oauth = upstream.Remote?.OAuth;
        if (oauth?.ClientSecretFile is { } secretFile)
        {
            CheckFile(secretFile, "oauth.client_secret_file", missing);
        }

        DateTimeOffset? expiresAt = null;
        string? detail = null;
        var refreshExpired = false;
        var refused = false;
        if (oauth is not null)
        {
            StoredTokens? tokens = null;
            if (CheckFile(oauth.TokenFile, "oauth tokens", missing, $"run: mcp-broker auth login {upstream.Name}"))
            {
                try
                {
                    tokens = new OAuthTokenStore(oauth.TokenFile).Read();
                }
                catch (InvalidDataException ex)
                {
                    missing.Add($"oauth tokens: {ex.Message}");
                }
            }

            if (tokens is { RefusedAt: { } refusedAt })
            {
                // The server said no (revoked, expired refresh token, unknown client): the file alone looks fine.
                refused = true;
                expiresAt = tokens.ExpiresAt;
                detail = $"refused by the server at {refusedAt:yyyy-MM-dd HH:mm:ss} UTC: {tokens.Refused}; run: mcp-broker auth login {upstream.Name}";
            }
            else if (tokens is not null)
            {
                expiresAt = tokens.ExpiresAt;
                var expired = tokens.ExpiresAt is { } at && at <= now;
                refreshExpired = expired && string.IsNullOrEmpty(tokens.RefreshToken);
                detail = (tokens.ExpiresAt, expired, tokens.RefreshToken is { Length: > 0 }) switch
                {
                    (null, _, _) => "access token without an expiry",
                    (_, false, var canRefresh) => $"access token valid until {tokens.ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC" + (canRefresh ? "; refreshed before it expires" : "; no refresh token: log in again after that"),
                    (_, true, true) => $"access token expired at {tokens.ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC; the refresh token renews it on the next use",
                    (_, true, false) => $"access token expired at {tokens.ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC and there is no refresh token; run: mcp-broker auth login {upstream.Name}",
                };
            }
        }

        var state = missing.Count > 0 ? CredentialsMissing
            : refused ? CredentialsRefused
            : refreshExpired ? OAuthRefreshExpired
            : upstream.EnvFrom.Count + upstream.EnvFiles.Count > 0 || oauth is not null ? CredentialsPresent
            : None;
        return new AuthProbe(state, missing, expiresAt, detail);
    }

    public JsonObject ToJson() => new()
    {
        ["state"] = State,
        ["missing"] = Missing.Count == 0 ? null : new JsonArray([.. Missing.Select(m => (JsonNode)m)]),
        ["expires_at"] = ExpiresAt,
        ["detail"] = Detail,
    };

    /// <summary>A secret file must exist, be non-empty and readable by its owner only; what is wrong is added to <paramref name="missing"/>.</summary>
    private static bool CheckFile(string path, string what, List<string> missing, string? fix = null)
    {
        if (!File.Exists(path))
        {
            missing.Add($"{what}: {path} does not exist" + (fix is null ? "" : $"; {fix}"));
            return false;
        }

        if (new FileInfo(path).Length == 0)
        {
            missing.Add($"{what}: {path} is empty");
            return false;
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
        {
            missing.Add($"{what}: {path} is readable by others; run chmod 600 {path}");
            return false;
        }

        return true;
    }
}
