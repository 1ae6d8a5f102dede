using System.Net;
using McpBroker.Config;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace McpBroker.Sessions;

/// <summary>Why the front door could not open (say what to change).</summary>
internal sealed class FrontDoorException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The HTTP front door (off unless <c>broker.http</c> is set): MCP over streamable HTTP on a loopback address, one
/// path per profile (<c>/mcp/PROFILE</c>), each session served by the same <see cref="BrokerSession"/> as a socket
/// session. Before MCP sees a request it must name a loopback Host (DNS rebinding), carry no Origin or an allowed one,
/// name a profile, and carry the bearer token (the profile's own when it has require_token_file).
/// It opens before any other part of the daemon starts (so a port in use stops the daemon before it does anything) and,
/// registered after the socket listener, closes before the upstreams stop.
/// </summary>
internal sealed partial class HttpFrontDoor(HttpFrontDoorModel settings, SessionServices services, ILoggerFactory loggerFactory) : IHostedLifecycleService
{
    private const string ProfileKey = "mcp-broker.profile";
    private const string SessionKey = "mcp-broker.session";
    private const string StatelessKey = "mcp-broker.stateless";
    private readonly ILogger _logger = loggerFactory.CreateLogger<HttpFrontDoor>();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _sessionProfiles = new(StringComparer.Ordinal);
    /// <summary>Memory the SSE event store may hold in all (see <see cref="StartingAsync"/>).</summary>
    internal const long EventStoreBytes = 16 * 1024 * 1024;

    /// <summary>How long an event is kept after it was last written or read, for a client to resume its stream.</summary>
    internal static readonly TimeSpan EventRetention = TimeSpan.FromMinutes(5);

    /// <summary>How long an event is kept at most.</summary>
    internal static readonly TimeSpan EventLifetime = TimeSpan.FromMinutes(15);

    private readonly StatelessSessions _stateless = new(services.Registry, TimeProvider.System);
    private WebApplication? _app;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// A web app that knows only what this code sets: no Kestrel endpoints, environment (with its developer exception
    /// page) or settings from environment variables or an appsettings file in the working directory, no log providers.
    /// </summary>
    internal static WebApplicationBuilder SlimBuilder(string applicationName)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = applicationName, Args = [], EnvironmentName = Environments.Production, ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        return builder;
    }

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var builder = SlimBuilder("mcp-broker");
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.Listen(settings.Listen);

            // The body is measured against broker.max_message_bytes as it is read (ReadMessageAsync), which follows a reload.
            o.Limits.MaxRequestBodySize = null;
        });
        // Resumable SSE streams for the session era (2025-11-25 basic/transports, Streamable HTTP, "Resumability and
        // Redelivery"; SEP-1699 polling): each stream starts with a priming event (an event id and a retry field), every
        // event gets an id, and a client that lost a stream GETs it again with Last-Event-ID. 2026-07-28 streams are not
        // resumable (that revision dropped it); the SDK keeps them out of the store. The events live in memory only:
        // EventStoreBytes in all (each event costs its serialized size; when full, new events are not kept, so a resume
        // may miss them, and the oldest are compacted away), each kept EventRetention after it was last read and never
        // longer than EventLifetime; a stream's bookkeeping twice as long.
        builder.Services.AddDistributedMemoryCache(o => o.SizeLimit = EventStoreBytes);
#pragma warning disable MCP9006 // the store is the SDK's, for the session-era transport that today's agent clients still speak
        var mcp = builder.Services.AddMcpServer().WithDistributedCacheEventStreamStore(o =>
        {
            (o.EventSlidingExpiration, o.EventAbsoluteExpiration) = (EventRetention, EventLifetime);
            (o.MetadataSlidingExpiration, o.MetadataAbsoluteExpiration) = (EventRetention * 2, EventLifetime * 2);
        });
#pragma warning restore MCP9006
        mcp.WithHttpTransport(o =>
        {
            // A client that initializes (protocol 2025-11-25 and older: every agent CLI today) gets a session, which
            // server-to-client requests, subscriptions and per-session upstreams need; a 2026-07-28 client is served
            // per request, each request its own broker session.
            o.SessionMode = ModelContextProtocol.AspNetCore.HttpServerSessionMode.StatefulForInitializeClients;
            o.ConfigureSessionOptions = async (context, options, ct) =>
            {
                var profile = (ProfileModel)context.Items[ProfileKey]!;
                var stateless = context.Items[StatelessKey] as string;
                var session = new BrokerSession(services, profile, stateless ?? Guid.NewGuid().ToString(), "http", _logger, releaseAtEnd: stateless is null);
                var own = await session.OptionsAsync(ct);
                options.ServerInfo = own.ServerInfo;
                options.ServerInstructions = own.ServerInstructions;
                options.Capabilities = own.Capabilities;
                options.Handlers = own.Handlers;
                foreach (var filter in own.Filters.Message.OutgoingFilters)
                {
                    options.Filters.Message.OutgoingFilters.Add(filter);
                }

                context.Items[SessionKey] = session;
                LogSessionStarted(session.Id, profile.Name);
            };
#pragma warning disable MCPEXP002 // the session's lifetime is the broker session's: registered as a peer, released at the end
            o.RunSessionHandler = async (context, server, ct) =>
            {
                var session = (BrokerSession)context.Items[SessionKey]!;
                // Stateful sessions: the SDK has set the new session's id on the response by now (stateless ones have none).
                var mcpSession = context.Response.Headers["Mcp-Session-Id"] is [{ Length: > 0 } id] ? id : null;
                if (mcpSession is not null)
                {
                    _sessionProfiles[mcpSession] = ((ProfileModel)context.Items[ProfileKey]!).Name;
                }

                try
                {
                    await session.RunAsync(server, ct);
                }
                finally
                {
                    if (mcpSession is not null)
                    {
                        _sessionProfiles.TryRemove(mcpSession, out _);
                    }

                    LogSessionEnded(session.Id);
                }
            };
#pragma warning restore MCPEXP002
        });

        // Requests of 2026-07-28 and later: the SDK's handler checks the Mcp-Method and Mcp-Name headers against the body
        // (and Mcp-Param-* against the tool's schema) after AdmitAsync has let the body on, and refuses a mismatch or a
        // missing header with 400 and HeaderMismatch (-32020), as the revision's basic/transports/streamable-http,
        // "Standard Request Headers" → "Server Validation" requires; older revisions have no such headers. Tested in
        // HttpFrontDoorStatelessJourneyTests, so an SDK that stopped doing it would be noticed.
        var app = builder.Build();
        app.Use(AdmitAsync);
        app.MapMcp("/mcp/{profile}");
        _app = await StartAsync(app, $"cannot listen on {settings.Listen} (broker.http.listen)", cancellationToken);
        LogListening(settings.Url("PROFILE"), settings.TokenFile);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await StopAsync(_app, cancellationToken);
        _stateless.Dispose();
    }

    /// <summary>Starts a loopback web app; a port it cannot have is a <see cref="FrontDoorException"/> saying so (<paramref name="what"/> names the setting).</summary>
    internal static async Task<WebApplication> StartAsync(WebApplication app, string what, CancellationToken ct)
    {
        try
        {
            await app.StartAsync(ct);
            return app;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            await app.DisposeAsync();
            throw new FrontDoorException($"{what}: {ex.Message}; choose another port (1024 or above unless the daemon runs as root)", ex);
        }
    }

    internal static async Task StopAsync(WebApplication? app, CancellationToken ct)
    {
        if (app is not null)
        {
            await app.StopAsync(ct);
            await app.DisposeAsync();
        }
    }

    /// <summary>Lets a request through to MCP only when it passes every check, each refusal saying what to fix.</summary>
    private async Task AdmitAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!LoopbackHost(request.Host))
        {
            // A page on some other site that resolves its name to 127.0.0.1 still sends its own name as Host.
            await RefuseAsync(context, StatusCodes.Status421MisdirectedRequest, $"Host '{request.Host}' is not this server's loopback address; connect to {settings.Url("PROFILE")}");
            return;
        }

        // Every Origin header counts: a second one must not let a foreign first one through.
        foreach (var origin in request.Headers.Origin)
        {
            if (origin is null || !(LoopbackOrigin(origin) || settings.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase)))
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden, $"Origin '{origin}' is not allowed; add it to broker.http.allowed_origins to let that page call the broker");
                return;
            }
        }

        var segments = request.Path.Value?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (segments is not ["mcp", var name, ..])
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, $"MCP is served at /mcp/PROFILE; profiles: {string.Join(", ", services.Config.Current.Profiles.Keys)}");
            return;
        }

        if (!services.Config.Current.Profiles.TryGetValue(name, out var profile))
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, $"no profile named '{name}' in {services.Config.Current.SourcePath}; profiles: {string.Join(", ", services.Config.Current.Profiles.Keys)}");
            return;
        }

        var tokenFile = profile.RequireTokenFile ?? settings.TokenFile;
        var header = request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..] : null;
        if (TokenFiles.Exposed(tokenFile) || !TokenFiles.Matches(tokenFile, presented))
        {
            LogRefusedToken(name);
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"mcp-broker\"";
            await RefuseAsync(context, StatusCodes.Status401Unauthorized, presented is null
                ? $"send the token from {tokenFile} as 'Authorization: Bearer TOKEN'"
                : $"the bearer token is not the one in {tokenFile}" + (TokenFiles.Exposed(tokenFile) ? $" (or that file is readable by others: chmod 600 {tokenFile})" : ""));
            return;
        }

        // The SDK finds a session by its id alone: a session is only ever used through the profile (and token) it began with.
        if (request.Headers["Mcp-Session-Id"] is [{ } sessionId] && _sessionProfiles.TryGetValue(sessionId, out var owner) && owner != name)
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, $"this session belongs to another profile; use its own URL, or start a new session at {settings.Url(name)}");
            return;
        }

        if (HttpMethods.IsPost(request.Method) && !await ReadMessageAsync(context))
        {
            return;
        }

        context.Items[ProfileKey] = profile;
        using var stateless = StatelessSession(context, profile, presented!);
        context.Items[StatelessKey] = stateless?.Id;
        await next(context);
    }

    /// <summary>
    /// For a stateless request (protocol 2026-07-28 or later, which the SDK serves without a session; it decides by the
    /// MCP-Protocol-Version header, as here) to a profile with per-session upstreams: the session it belongs to
    /// (<see cref="StatelessSessions"/>), in use until disposed. Null otherwise: the request is a session of its own.
    /// </summary>
    private StatelessSessions.Lease? StatelessSession(HttpContext context, ProfileModel profile, string token)
    {
        var request = context.Request;
        if (!HttpMethods.IsPost(request.Method) || !Upstreams.ProtocolMemory.IsStateless(request.Headers["MCP-Protocol-Version"].ToString())
            || !profile.Upstreams.Any(u => services.Registry.FindModel(u)?.Mode == UpstreamMode.PerSession))
        {
            return null;
        }

        string? name = null, version = null;
        if (request.Body is MemoryStream body)
        {
            try
            {
                using var message = System.Text.Json.JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
                if (message.RootElement.TryGetProperty("params", out var parameters) && parameters.ValueKind == System.Text.Json.JsonValueKind.Object
                    && parameters.TryGetProperty("_meta", out var meta) && meta.ValueKind == System.Text.Json.JsonValueKind.Object
                    && meta.TryGetProperty(Upstreams.ForwardedMeta.ReservedPrefix + "clientInfo", out var info) && info.ValueKind == System.Text.Json.JsonValueKind.Object)
                {
                    name = info.TryGetProperty("name", out var n) ? n.ToString() : null;
                    version = info.TryGetProperty("version", out var v) ? v.ToString() : null;
                }
            }
            catch (System.Text.Json.JsonException)
            {
                // Checked well-formed already (ReadMessageAsync); anything else is the SDK's to refuse.
            }
        }

        var handle = request.Headers[StatelessSessions.HandleHeader] is [{ Length: > 0 } h] ? h : null;
        return _stateless.Enter(profile.Name, token, handle, name, version);
    }

    /// <summary>
    /// Reads a POST body up to <c>broker.max_message_bytes</c> and lets it on only when it is one well-formed JSON-RPC
    /// message; otherwise answers as JSON-RPC asks (413 with -32600 for a body too long, read no further; 400 with
    /// -32700 for one that is not JSON, -32600 for a batch, a bare value or a message of the wrong shape), with the
    /// request's id when it can be read and null when not. The SDK would answer them all with -32600 and a null id.
    /// </summary>
    private async Task<bool> ReadMessageAsync(HttpContext context)
    {
        var limit = services.Config.Current.Settings.MaxMessageBytes;
        var request = context.Request;
        var tooLong = $"Invalid Request: the message is longer than {limit} bytes (broker.max_message_bytes)";
        if (request.ContentLength > limit)
        {
            await RefuseMessageAsync(context, StatusCodes.Status413PayloadTooLarge, new Shared.JsonRpcFault(Shared.JsonRpcCheck.InvalidRequest, tooLong, null));
            return false;
        }

        var body = new MemoryStream();
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            for (int n; (n = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0;)
            {
                if (body.Length + n > limit)
                {
                    var start = new Shared.Line(Shared.LineKind.Oversized, body.GetBuffer().AsMemory(0, (int)Math.Min(body.Length, Shared.LineBuffer.PrefixBytes)));
                    await RefuseMessageAsync(context, StatusCodes.Status413PayloadTooLarge,
                        new Shared.JsonRpcFault(Shared.JsonRpcCheck.InvalidRequest, tooLong, Shared.MessageInfo.InspectDropped(start).Id));
                    return false;
                }

                body.Write(chunk, 0, n);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }

        if (Shared.JsonRpcCheck.Check(body.GetBuffer().AsSpan(0, (int)body.Length)) is { } fault)
        {
            await RefuseMessageAsync(context, fault.Answer ? StatusCodes.Status400BadRequest : StatusCodes.Status202Accepted, fault);
            return false;
        }

        body.Position = 0;
        request.Body = body;
        context.Response.RegisterForDispose(body);
        return true;
    }

    private static async Task RefuseMessageAsync(HttpContext context, int status, Shared.JsonRpcFault fault)
    {
        context.Response.StatusCode = status;
        if (fault.Answer)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Shared.JsonRpcCheck.ErrorResponse(fault) + "\n");
        }
    }

    internal static bool LoopbackHost(HostString host)
    {
        if (!host.HasValue)
        {
            return false;
        }

        // The name is what a rebinding page cannot fake (it sends its own); the port may differ behind a local proxy.
        var name = host.Host.Trim('[', ']');
        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(name, out var address) && IPAddress.IsLoopback(address));
    }

    /// <summary>A page served from this machine (a loopback origin) is no rebinding attack; it still needs the token.</summary>
    internal static bool LoopbackOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && (uri.IsLoopback || uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase));

    /// <summary>A refusal in plain text, saying what to fix.</summary>
    internal static async Task RefuseAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync($"mcp-broker: {message}\n");
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Information, Message = "HTTP front door listening at {Url} (bearer token in {TokenFile})")]
    private partial void LogListening(string url, string tokenFile);

    [LoggerMessage(EventId = 501, Level = LogLevel.Information, Message = "HTTP session {SessionId} started: profile {Profile}")]
    private partial void LogSessionStarted(string sessionId, string profile);

    [LoggerMessage(EventId = 502, Level = LogLevel.Information, Message = "HTTP session {SessionId} ended")]
    private partial void LogSessionEnded(string sessionId);

    [LoggerMessage(EventId = 503, Level = LogLevel.Warning, Message = "Refused an HTTP request for profile {Profile}: missing or wrong bearer token")]
    private partial void LogRefusedToken(string profile);
}
