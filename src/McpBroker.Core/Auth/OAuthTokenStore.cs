using System.Text.Json;
using System.Text.Json.Serialization;
using ModelContextProtocol.Authentication;

namespace McpBroker.Auth;

/// <summary>
/// An upstream's OAuth tokens in one JSON file (mode 0600, written atomically), shared by <c>auth login</c> and the
/// daemon. The SDK refreshes a token it is told has expired, so the store reports it expired a little early
/// (<see cref="RefreshMargin"/>): tokens are refreshed before the server would refuse them.
/// </summary>
public sealed class OAuthTokenStore(string path, TimeProvider? time = null) : ITokenCache
{
    /// <summary>How long before its expiry an access token is refreshed (at most a tenth of its lifetime).</summary>
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromSeconds(60);

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    /// <summary>One lock per file: per-session upstreams have a store each, and their refreshes must not interleave writes.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lock> s_gates = new(StringComparer.Ordinal);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = s_gates.GetOrAdd(System.IO.Path.GetFullPath(path), _ => new Lock());

    public string Path => path;

    /// <summary>How long before its expiry a token obtained at <paramref name="obtainedAt"/> is due for renewal.</summary>
    public static TimeSpan Margin(DateTimeOffset obtainedAt, DateTimeOffset expiresAt) =>
        TimeSpan.FromTicks(Math.Min(RefreshMargin.Ticks, (expiresAt - obtainedAt).Ticks / 10));

    /// <summary>The stored tokens, or null when there is no file; a damaged file is an error that names it.</summary>
    public StoredTokens? Read()
    {
        lock (_gate)
        {
            if (!File.Exists(path))
            {
                return null;
            }

            try
            {
                return JsonSerializer.Deserialize<StoredTokens>(File.ReadAllText(path), s_json) is { AccessToken.Length: > 0 } tokens
                    ? Masked(tokens)
                    : throw new InvalidDataException($"{path} holds no access_token; run mcp-broker auth login again");
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{path} is not a token file ({ex.Message.Split('.')[0]}); run mcp-broker auth login again");
            }
        }
    }

    public ValueTask<TokenContainer?> GetTokensAsync(CancellationToken cancellationToken)
    {
        if (Read() is not { } stored)
        {
            return ValueTask.FromResult<TokenContainer?>(null);
        }

        int? expiresIn = null;
        if (stored.ExpiresAt is { } expiresAt)
        {
            expiresIn = (int)Math.Max(0, (expiresAt - Margin(stored.ObtainedAt, expiresAt) - stored.ObtainedAt).TotalSeconds);
        }

        return ValueTask.FromResult<TokenContainer?>(new TokenContainer
        {
            TokenType = stored.TokenType ?? "Bearer",
            AccessToken = stored.AccessToken,
            RefreshToken = stored.RefreshToken,
            Scope = stored.Scope,
            ObtainedAt = stored.ObtainedAt,
            ExpiresIn = expiresIn,
            ClientId = stored.ClientId,
            ClientSecret = stored.ClientSecret,
            TokenEndpointAuthMethod = stored.TokenEndpointAuthMethod,
            AuthorizationServer = stored.AuthorizationServer,
        });
    }

    public ValueTask StoreTokensAsync(TokenContainer tokens, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!OAuthCredential.For(path).Handled(tokens.AccessToken))
            {
                Store(tokens);
            }
        }

        return ValueTask.CompletedTask;
    }

    private void Store(TokenContainer tokens)
    {
        var previous = SafeRead();
        Write(new StoredTokens
        {
            TokenType = tokens.TokenType,
            AccessToken = tokens.AccessToken,

            // A refresh answer may omit the refresh token: the old one stays valid then.
            RefreshToken = tokens.RefreshToken ?? previous?.RefreshToken,
            Scope = tokens.Scope,
            ObtainedAt = tokens.ObtainedAt,
            ExpiresAt = tokens.ExpiresIn is { } seconds ? tokens.ObtainedAt.AddSeconds(seconds) : null,
            ClientId = tokens.ClientId ?? previous?.ClientId,
            ClientSecret = tokens.ClientSecret ?? previous?.ClientSecret,
            TokenEndpointAuthMethod = tokens.TokenEndpointAuthMethod ?? previous?.TokenEndpointAuthMethod,
            AuthorizationServer = tokens.AuthorizationServer ?? previous?.AuthorizationServer,
            RefreshedAt = previous is null ? null : _time.GetUtcNow(),
        });
    }

    /// <summary>The stored tokens, or null when there are none or the file is damaged.</summary>
    public StoredTokens? SafeRead()
    {
        try
        {
            return Read();
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>The tokens, made known to the daemon's one masking step first (they must never leave it).</summary>
    private static StoredTokens Masked(StoredTokens tokens)
    {
        Config.SecretMask.Add(tokens.AccessToken, tokens.RefreshToken, tokens.ClientSecret);
        return tokens;
    }

    /// <summary>Writes the file atomically with mode 0600, in a directory only its owner can list (0700).</summary>
    public void Write(StoredTokens tokens)
    {
        lock (_gate)
        {
            Masked(tokens);
            PrivateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
            Platform.AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(tokens, s_json), Platform.PrivateFiles.FileMode);
        }
    }

    /// <summary>
    /// Records that the server refused these tokens (a refused refresh token, an access token refused with no way to
    /// renew it): status and doctor then say so, with when and why, until a login or a refresh replaces them.
    /// </summary>
    public void RecordRefusal(string why, DateTimeOffset? at = null)
    {
        lock (_gate)
        {
            if (SafeRead() is { } stored)
            {
                Write(stored with { RefusedAt = at ?? _time.GetUtcNow(), Refused = why });
            }
        }
    }

    /// <summary>Creates the directory 0700, or takes group and other access away from one that has it.</summary>
    public static void PrivateDirectory(string directory)
    {
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, owner);
        }
        else if (File.GetUnixFileMode(directory) != owner)
        {
            File.SetUnixFileMode(directory, owner);
        }
    }

    /// <summary>Removes the tokens; false when there were none.</summary>
    public bool Delete()
    {
        lock (_gate)
        {
            if (!File.Exists(path))
            {
                return false;
            }

            File.Delete(path);
            return true;
        }
    }
}

/// <summary>What the token file holds. Never printed: status shows only its dates and which fields exist.</summary>
public sealed record StoredTokens
{
    public string? TokenType { get; init; }

    public string AccessToken { get; init; } = "";

    public string? RefreshToken { get; init; }

    public string? Scope { get; init; }

    public DateTimeOffset ObtainedAt { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public DateTimeOffset? RefreshedAt { get; init; }

    public string? ClientId { get; init; }

    public string? ClientSecret { get; init; }

    public string? TokenEndpointAuthMethod { get; init; }

    public string? AuthorizationServer { get; init; }

    /// <summary>When the server last refused these tokens; null while they work.</summary>
    public DateTimeOffset? RefusedAt { get; init; }

    /// <summary>Why (the server's OAuth error, never a token).</summary>
    public string? Refused { get; init; }
}
