using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace McpBroker.Auth;

/// <summary>
/// Token revocation (RFC 7009) at logout: the authorization server's metadata (RFC 8414, then OpenID discovery) names
/// its revocation endpoint; the refresh token is revoked first (which ends the grant at most servers), then the access
/// token, authenticated as the client the tokens were issued to.
/// </summary>
public static class OAuthRevocation
{
    /// <summary>What happened at the server, in a sentence; never a token.</summary>
    public sealed record Outcome(bool Revoked, string Message);

    public static async Task<Outcome> RevokeAsync(StoredTokens tokens, HttpClient http, CancellationToken ct)
    {
        if (tokens.AuthorizationServer is not { } issuer || !Uri.TryCreate(issuer, UriKind.Absolute, out var issuerUri) || tokens.ClientId is null)
        {
            return new(false, "the token file does not name the authorization server or client, so the server could not be asked to revoke them");
        }

        Uri? endpoint = null;
        var found = false;
        foreach (var metadata in MetadataUris(issuerUri))
        {
            using var response = await http.GetAsync(metadata, ct);
            if (!response.IsSuccessStatusCode)
            {
                continue;
            }

            found = true;
            if (JsonNode.Parse(await response.Content.ReadAsStringAsync(ct)) is JsonObject doc
                && doc["revocation_endpoint"]?.ToString() is { } revocation && Uri.TryCreate(revocation, UriKind.Absolute, out var uri))
            {
                endpoint = uri;
            }

            break;
        }

        if (endpoint is null)
        {
            return new(false, found
                ? $"{issuerUri.GetLeftPart(UriPartial.Authority)} advertises no revocation endpoint, so the tokens stay valid there until they expire"
                : $"could not read the metadata of {issuerUri.GetLeftPart(UriPartial.Authority)}, so the server was not asked to revoke the tokens");
        }

        var failures = new List<string>();
        foreach (var (token, hint) in new[] { (tokens.RefreshToken, "refresh_token"), (tokens.AccessToken, "access_token") })
        {
            if (string.IsNullOrEmpty(token))
            {
                continue;
            }

            var fields = new Dictionary<string, string> { ["token"] = token, ["token_type_hint"] = hint };
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint);
            if (tokens.TokenEndpointAuthMethod == "client_secret_basic")
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                    Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(tokens.ClientId)}:{Uri.EscapeDataString(tokens.ClientSecret ?? "")}")));
            }
            else
            {
                fields["client_id"] = tokens.ClientId;
                if (tokens.ClientSecret is { Length: > 0 } secret && tokens.TokenEndpointAuthMethod != "none")
                {
                    fields["client_secret"] = secret;
                }
            }

            request.Content = new FormUrlEncodedContent(fields);
            using var answer = await http.SendAsync(request, ct);
            if (!answer.IsSuccessStatusCode)
            {
                var failure = await TokenEndpointFailure.ReadAsync(answer, "revoke", DateTimeOffset.UtcNow, ct);
                failures.Add($"the {hint.Replace('_', ' ')}: {failure.Describe()}");
            }
        }

        return failures.Count == 0
            ? new(true, $"revoked at {endpoint.GetLeftPart(UriPartial.Path)}")
            : new(false, $"{endpoint.GetLeftPart(UriPartial.Path)} refused to revoke {string.Join("; ", failures)}");
    }

    /// <summary>RFC 8414 §3 (the well-known segment before the issuer's path), then OpenID Connect discovery both ways.</summary>
    private static IEnumerable<Uri> MetadataUris(Uri issuer)
    {
        var origin = issuer.GetLeftPart(UriPartial.Authority);
        var path = issuer.AbsolutePath.TrimEnd('/');
        yield return new Uri(origin + "/.well-known/oauth-authorization-server" + path);
        yield return new Uri(origin + "/.well-known/openid-configuration" + path);
        if (path.Length > 0)
        {
            yield return new Uri(origin + path + "/.well-known/openid-configuration");
        }
    }
}
