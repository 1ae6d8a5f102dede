using System.Net;
using McpBroker.Config;
using McpBroker.Transports;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Authentication;
using ModelContextProtocol.Client;

namespace McpBroker.Upstreams;

/// <summary>Builds the SDK's HTTP client transport for an http/sse upstream, with its headers resolved from secrets.</summary>
internal static class RemoteConnection
{
    /// <summary>
    /// One HttpClient (one connection pool) for every remote upstream of the process: the SDK's own transport would make
    /// one per connection and never dispose it. No client-wide timeout: the broker's start and call limits apply.
    /// </summary>
    private static readonly HttpMessageHandler s_handler = new HttpCancellation.Handler(new ProgressRelay.Handler());

    private static readonly HttpClient s_http = new(s_handler, disposeHandler: false)
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>
    /// One HttpClient per OAuth credential (token file), over the same connection pool: its token endpoint requests go
    /// through the credential's <see cref="TokenEndpointHandler"/>, so the sessions of a per-session upstream refresh
    /// one at a time.
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, HttpClient> s_oauthHttp = new(StringComparer.Ordinal);

    public static HttpClientTransport CreateTransport(UpstreamModel model, RemoteModel remote, IReadOnlyDictionary<string, string> secrets,
        ClientOAuthOptions? oauth, ILoggerFactory loggerFactory, HttpClient? http = null) => new(new HttpClientTransportOptions
        {
            Endpoint = remote.UrlTemplate is null ? remote.Url : ResolveUrl(remote.UrlTemplate, secrets),
            Name = model.Name,
            TransportMode = model.Transport == UpstreamTransport.Sse ? HttpTransportMode.Sse : HttpTransportMode.StreamableHttp,
            AdditionalHeaders = ResolveHeaders(remote, secrets),
            ConnectionTimeout = model.StartTimeout,
            OAuth = oauth,
        }, http ?? (remote.OAuth is { } o && oauth is not null ? OAuthHttp(o.TokenFile) : s_http), loggerFactory, ownsHttpClient: false);

    private static HttpClient OAuthHttp(string tokenFile) => s_oauthHttp.GetOrAdd(Path.GetFullPath(tokenFile), file =>
        ForCredential(Auth.OAuthCredential.For(file)));

    /// <summary>An HttpClient over the shared connection pool whose token endpoint requests the credential sees (and <paramref name="observe"/>, for a login).</summary>
    public static HttpClient ForCredential(Auth.OAuthCredential credential, Action<string, Auth.TokenEndpointFailure?>? observe = null) =>
        new(new Auth.TokenEndpointHandler(credential, s_handler, observe), disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>The url with its <c>${KEY}</c> references replaced by the secret values, each escaped for a query.</summary>
    public static Uri ResolveUrl(string template, IReadOnlyDictionary<string, string> secrets) =>
        new(ConfigValidator.HeaderReferenceRegex().Replace(template, m => Uri.EscapeDataString(secrets[m.Groups["key"].Value])));

    /// <summary>Each header template with its <c>${KEY}</c> references replaced by the secret values.</summary>
    public static Dictionary<string, string> ResolveHeaders(RemoteModel remote, IReadOnlyDictionary<string, string> secrets)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, template) in remote.Headers)
        {
            var value = ConfigValidator.HeaderReferenceRegex().Replace(template, m => secrets[m.Groups["key"].Value]);
            if (value.Contains('\r') || value.Contains('\n'))
            {
                // Checked here because the SDK's own error for a bad header quotes the value.
                throw new UpstreamStartException($"headers.{name}: a secret it reads contains a line break; check the env_from variable or env_files file");
            }

            headers[name] = value;
            if (!ReferenceEquals(value, template))
            {
                SecretMask.Add(value);
            }
        }

        return headers;
    }
}

/// <summary>How HTTP failures of a remote upstream are recognised and explained.</summary>
internal static class RemoteFailure
{
    /// <summary>Retries after HTTP 429/5xx, for tools/list and idempotent calls.</summary>
    public const int Retries = 3;

    public static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(250 * (1 << Math.Min(attempt - 1, 4)));

    public static bool Retryable(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    public static HttpStatusCode? StatusCode(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case HttpRequestException { StatusCode: { } code }:
                    return code;
                case ClientTransportClosedException { Details: HttpClientCompletionDetails { HttpStatusCode: { } closed } }:
                    return closed;
            }
        }

        return null;
    }

    /// <summary>HTTP 404 to a request that carried an Mcp-Session-Id: the server no longer knows the session.</summary>
    public static bool SessionExpired(Exception ex) => StatusCode(ex) == HttpStatusCode.NotFound;

    public static string Explain(Exception ex, UpstreamModel model)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is UpstreamStartException or SecretUnavailableException)
            {
                return e.Message;
            }
        }

        var url = model.Remote?.DisplayUrl ?? model.Name;
        return StatusCode(ex) switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden when model.Remote?.OAuth is not null =>
                $"{url} refused the OAuth token (HTTP {(int)StatusCode(ex)!}); run: mcp-broker auth login {model.Name}",
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                $"{url} refused the credentials (HTTP {(int)StatusCode(ex)!}); check upstreams.{model.Name}.headers and the env_from/env_files values they read, or add an oauth block and run mcp-broker auth login {model.Name}",
            HttpStatusCode.NotFound => $"{url} answered HTTP 404; check upstreams.{model.Name}.url (streamable HTTP servers usually serve /mcp, SSE servers /sse)",
            { } code => $"{url} answered HTTP {(int)code} ({code})",
            null when ex is HttpRequestException => $"could not reach {url}: {ex.Message}",
            null => ex.Message,
        };
    }
}
