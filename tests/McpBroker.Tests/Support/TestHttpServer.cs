using System.Collections.Concurrent;
using System.ComponentModel;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;

namespace McpBroker.Tests.Support;

/// <summary>
/// A real MCP server over streamable HTTP on 127.0.0.1 (the SDK's ASP.NET Core transport, stateful sessions), run
/// inside the test so the test can make it misbehave: require a bearer token, forget its sessions (HTTP 404), answer
/// 503. With <c>oauth</c> it is also its own OAuth 2.1 authorization server (metadata, dynamic registration,
/// authorization code + PKCE that approves at once, refresh tokens) and accepts only the access tokens it issued.
/// </summary>
internal sealed class TestHttpServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, bool> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _expired = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _accessTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _refreshTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Challenge, string RedirectUri)> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _authorizations = new();
    private int _failNext;
    private int _failStatus;
    private int _initializes;
    private int _refreshes;

    private TestHttpServer(WebApplication app, ServerCounters counters, string? bearerToken, bool oauth, TimeSpan tokenLifetime)
    {
        _app = app;
        Counters = counters;
        BearerToken = bearerToken;
        OAuth = oauth;
        TokenLifetime = tokenLifetime;
    }

    public string? BearerToken { get; }

    public bool OAuth { get; }

    public TimeSpan TokenLifetime { get; }

    public Uri BaseUrl { get; private set; } = null!;

    public Uri McpUrl => new(BaseUrl, "/mcp");

    public ServerCounters Counters { get; }

    public int Initializes => Volatile.Read(ref _initializes);

    public int Refreshes => Volatile.Read(ref _refreshes);

    /// <summary>Every Authorization header the MCP endpoint received, in order.</summary>
    public IReadOnlyCollection<string> Authorizations => _authorizations;

    /// <summary>Every request method received on /mcp, in order.</summary>
    public ConcurrentQueue<string> Methods { get; } = new();

    /// <summary>The JSON-RPC id of every tools/call of the tool slow received, in order.</summary>
    public ConcurrentQueue<string> SlowCalls { get; } = new();

    /// <summary>The requestId of every notifications/cancelled received, in order.</summary>
    public ConcurrentQueue<string> Cancelled { get; } = new();

    /// <param name="statelessOnly">Speaks only protocol 2026-07-28 (see EraFilters).</param>
    /// <param name="sessionRevision">A session-era server that speaks only this revision (see EraFilters).</param>
    public static async Task<TestHttpServer> StartAsync(string? bearerToken = null, bool oauth = false, TimeSpan? tokenLifetime = null,
        bool statelessOnly = false, string? sessionRevision = null)
    {

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var counters = new ServerCounters();
        builder.Services.AddSingleton(counters);
        builder.Services.AddMcpServer(o =>
            {
                o.ServerInfo = new() { Name = "test-http", Version = "1" };
                McpBroker.TestUpstream.EraFilters.Add(o, statelessOnly, sessionRevision, received: null);
            })
            .WithHttpTransport(o => o.Stateless = statelessOnly)
            .WithTools<HttpTools>();
        var app = builder.Build();
        var server = new TestHttpServer(app, counters, bearerToken, oauth, tokenLifetime ?? TimeSpan.FromHours(1));
        app.Use(server.GuardAsync);
        if (oauth)
        {
            server.MapAuthorizationServer(app);
        }

        app.MapMcp("/mcp");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return server;
    }

    /// <summary>Forgets every session it handed out: requests carrying their Mcp-Session-Id get 404 from now on.</summary>
    public void ExpireSessions()
    {
        foreach (var id in _sessions.Keys)
        {
            _expired[id] = true;
        }
    }

    /// <summary>When set, a tools/call forgets its session and is answered 404 (a server behind a load balancer without affinity).</summary>
    public bool ForgetSessionsOnCall { get; set; }

    /// <summary>
    /// When set, a tools/call is answered with an error that quotes the request's headers, as careless servers do: a
    /// JSON-RPC error (HTTP 200) for <see cref="HeaderEcho.JsonRpcError"/>, an HTTP 500 with a text body for
    /// <see cref="HeaderEcho.HttpError"/>.
    /// </summary>
    public HeaderEcho EchoHeadersOnCall { get; set; }

    /// <summary>The next <paramref name="count"/> requests to /mcp are answered with <paramref name="status"/>.</summary>
    public void FailNext(int count, HttpStatusCode status = HttpStatusCode.ServiceUnavailable)
    {
        Volatile.Write(ref _failStatus, (int)status);
        Volatile.Write(ref _failNext, count);
    }

    /// <summary>Makes every access token issued so far invalid (as if they had expired); refresh tokens stay good.</summary>
    public void ExpireAccessTokens() => _accessTokens.Clear();

    /// <summary>Revokes every token: only a new login helps.</summary>
    public void RevokeAll()
    {
        _accessTokens.Clear();
        _refreshTokens.Clear();
    }

    public IReadOnlyCollection<string> IssuedAccessTokens => [.. _accessTokens.Keys];

    private async Task GuardAsync(HttpContext context, RequestDelegate next)
    {
        if (!context.Request.Path.StartsWithSegments("/mcp"))
        {
            await next(context);
            return;
        }

        var authorization = context.Request.Headers.Authorization.ToString();
        _authorizations.Enqueue(authorization);
        if (HttpMethods.IsPost(context.Request.Method))
        {
            // Seen here, before the transport: a request the transport refuses at the HTTP layer is recorded too.
            context.Request.EnableBuffering();
            var posted = await new StreamReader(context.Request.Body, leaveOpen: true).ReadToEndAsync();
            context.Request.Body.Position = 0;
            if (JsonNode.Parse(posted) is JsonObject { } message && message["method"]?.GetValue<string>() is { } method)
            {
                if (message["id"] is { } id)
                {
                    Methods.Enqueue(method);
                    if (method == "tools/call" && message["params"]?["name"]?.GetValue<string>() == "slow")
                    {
                        SlowCalls.Enqueue(id.ToString());
                    }
                }
                else if (method == "notifications/cancelled")
                {
                    Cancelled.Enqueue(message["params"]?["requestId"]?.ToString() ?? "");
                }
            }
        }

        if (EchoHeadersOnCall != HeaderEcho.None && HttpMethods.IsPost(context.Request.Method) && JsonNode.Parse(await ReadBodyAsync(context.Request)) is JsonObject { } call
            && call["method"]?.GetValue<string>() == "tools/call")
        {
            var quoted = string.Join("; ", context.Request.Headers.Select(h => $"{h.Key}: {h.Value}"));
            if (EchoHeadersOnCall == HeaderEcho.HttpError)
            {
                context.Response.StatusCode = 500;
                await context.Response.WriteAsync($"internal error handling the request with headers {quoted}");
                return;
            }

            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["jsonrpc"] = "2.0",
                ["id"] = call["id"]?.DeepClone(),
                ["error"] = new JsonObject { ["code"] = -32603, ["message"] = $"upstream API refused the request with headers {quoted}" },
            });
            return;
        }

        if (BearerToken is not null && authorization != "Bearer " + BearerToken)
        {
            context.Response.StatusCode = 401;
            return;
        }

        if (OAuth && !(authorization.StartsWith("Bearer ", StringComparison.Ordinal)
            && _accessTokens.TryGetValue(authorization["Bearer ".Length..], out var expires) && expires > DateTimeOffset.UtcNow))
        {
            context.Response.StatusCode = 401;
            context.Response.Headers.WWWAuthenticate = $"Bearer resource_metadata=\"{new Uri(BaseUrl, "/.well-known/oauth-protected-resource/mcp")}\"";
            return;
        }

        if (Interlocked.Decrement(ref _failNext) >= 0)
        {
            context.Response.StatusCode = Volatile.Read(ref _failStatus);
            return;
        }

        var session = context.Request.Headers["Mcp-Session-Id"].ToString();
        if (session.Length > 0 && _expired.ContainsKey(session))
        {
            context.Response.StatusCode = 404;
            return;
        }

        if (ForgetSessionsOnCall && session.Length > 0 && HttpMethods.IsPost(context.Request.Method))
        {
            context.Request.EnableBuffering();
            var body = await new StreamReader(context.Request.Body, leaveOpen: true).ReadToEndAsync();
            context.Request.Body.Position = 0;
            if (body.Contains("\"tools/call\"", StringComparison.Ordinal))
            {
                _expired[session] = true;
                context.Response.StatusCode = 404;
                return;
            }
        }

        context.Response.OnStarting(() =>
        {
            if (context.Response.Headers["Mcp-Session-Id"].ToString() is { Length: > 0 } id && _sessions.TryAdd(id, true))
            {
                Interlocked.Increment(ref _initializes);
            }

            return Task.CompletedTask;
        });
        await next(context);
    }

    private static async Task<string> ReadBodyAsync(HttpRequest request)
    {
        request.EnableBuffering();
        var body = await new StreamReader(request.Body, leaveOpen: true).ReadToEndAsync();
        request.Body.Position = 0;
        return body;
    }

    private void MapAuthorizationServer(WebApplication app)
    {
        string Base() => BaseUrl.ToString().TrimEnd('/');
        app.MapGet("/.well-known/oauth-protected-resource/mcp", () => Results.Json(new JsonObject
        {
            ["resource"] = Base() + "/mcp",
            ["authorization_servers"] = new JsonArray(Base()),
            ["bearer_methods_supported"] = new JsonArray("header"),
        }));
        app.MapGet("/.well-known/oauth-authorization-server", () => Results.Json(new JsonObject
        {
            ["issuer"] = Base(),
            ["authorization_endpoint"] = Base() + "/authorize",
            ["token_endpoint"] = Base() + "/token",
            ["registration_endpoint"] = Base() + "/register",
            ["response_types_supported"] = new JsonArray("code"),
            ["grant_types_supported"] = new JsonArray("authorization_code", "refresh_token"),
            ["code_challenge_methods_supported"] = new JsonArray("S256"),
            ["token_endpoint_auth_methods_supported"] = new JsonArray("none"),
        }));
        app.MapPost("/register", async (HttpContext context) =>
        {
            var request = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
            var response = request.DeepClone().AsObject();
            response["client_id"] = "client-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
            response["token_endpoint_auth_method"] = "none";
            return Results.Json(response, statusCode: 201);
        });
        app.MapGet("/authorize", (HttpContext context) =>
        {
            var q = context.Request.Query;
            if (q["code_challenge_method"] != "S256" || string.IsNullOrEmpty(q["code_challenge"]) || string.IsNullOrEmpty(q["redirect_uri"]))
            {
                return Results.BadRequest("PKCE with S256 and a redirect_uri are required");
            }

            var code = Token("code");
            _codes[code] = (q["code_challenge"]!, q["redirect_uri"]!);
            return Results.Redirect($"{q["redirect_uri"]}?code={code}&state={Uri.EscapeDataString(q["state"].ToString())}");
        });
        app.MapPost("/token", async (HttpContext context) =>
        {
            var form = await context.Request.ReadFormAsync();
            switch (form["grant_type"].ToString())
            {
                case "authorization_code":
                    if (!_codes.TryRemove(form["code"].ToString(), out var issued)
                        || issued.RedirectUri != form["redirect_uri"].ToString()
                        || Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != issued.Challenge)
                    {
                        return Results.Json(new JsonObject { ["error"] = "invalid_grant" }, statusCode: 400);
                    }

                    return Results.Json(Issue(Token("refresh")));
                case "refresh_token":
                    if (!_refreshTokens.ContainsKey(form["refresh_token"].ToString()))
                    {
                        return Results.Json(new JsonObject { ["error"] = "invalid_grant" }, statusCode: 400);
                    }

                    Interlocked.Increment(ref _refreshes);
                    return Results.Json(Issue(form["refresh_token"].ToString()));
                default:
                    return Results.Json(new JsonObject { ["error"] = "unsupported_grant_type" }, statusCode: 400);
            }
        });
    }

    private JsonObject Issue(string refreshToken)
    {
        var access = Token("access");
        _accessTokens[access] = DateTimeOffset.UtcNow + TokenLifetime;
        _refreshTokens[refreshToken] = true;
        return new JsonObject
        {
            ["access_token"] = access,
            ["token_type"] = "Bearer",
            ["expires_in"] = (int)TokenLifetime.TotalSeconds,
            ["refresh_token"] = refreshToken,
        };
    }

    private static string Token(string kind) => $"{kind}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}";

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>How <see cref="TestHttpServer.EchoHeadersOnCall"/> quotes a call's request headers back.</summary>
internal enum HeaderEcho
{
    None,
    JsonRpcError,
    HttpError,
}

/// <summary>How often each tool of the test server ran.</summary>
internal sealed class ServerCounters
{
    private int _tick;
    private int _append;
    private int _slowStarted;
    private int _slowCancelled;

    public int Tick => Volatile.Read(ref _tick);

    public int Append => Volatile.Read(ref _append);

    public int CountTick() => Interlocked.Increment(ref _tick);

    public int CountAppend() => Interlocked.Increment(ref _append);

    /// <summary>Calls of the tool slow that began.</summary>
    public int SlowStarted => Volatile.Read(ref _slowStarted);

    /// <summary>Calls of the tool slow that saw their cancellation token fire.</summary>
    public int SlowCancelled => Volatile.Read(ref _slowCancelled);

    public void CountSlowStarted() => Interlocked.Increment(ref _slowStarted);

    public void CountSlowCancelled() => Interlocked.Increment(ref _slowCancelled);
}

[McpServerToolType]
internal sealed class HttpTools
{
    [McpServerTool(Name = "echo", ReadOnly = true, Idempotent = true), Description("Returns the text")]
    public static string Echo(string text) => text;

    [McpServerTool(Name = "session", ReadOnly = true), Description("The MCP session id of this connection")]
    public static string Session(McpServer server) => server.SessionId ?? "";

    [McpServerTool(Name = "tick", ReadOnly = true, Idempotent = true), Description("Counts calls; safe to repeat")]
    public static string Tick(ServerCounters counters) => counters.CountTick().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [McpServerTool(Name = "append", Destructive = false, Idempotent = false), Description("Counts calls; not safe to repeat")]
    public static string Append(ServerCounters counters) => counters.CountAppend().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [McpServerTool(Name = "slow", ReadOnly = true), Description("Answers after ms milliseconds; counts its starts and the cancellations it saw")]
    public static async Task<string> Slow(int ms, ServerCounters counters, CancellationToken ct)
    {
        counters.CountSlowStarted();
        try
        {
            // The delay is the behaviour under test (a slow server), not synchronisation.
            await Task.Delay(ms, ct);
        }
        catch (OperationCanceledException)
        {
            counters.CountSlowCancelled();
            throw;
        }

        return $"slept {ms} ms";
    }
}
