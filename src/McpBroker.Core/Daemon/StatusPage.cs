using System.Reflection;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace McpBroker.Daemon;

/// <summary>
/// The status page (off unless <c>broker.status_page</c> is set): a small HTML page, its script and style (embedded in
/// this assembly: nothing is loaded from elsewhere), <c>/api/status</c> (the same JSON as <c>mcp-broker status</c>, plus
/// the context each profile saves) that the page polls, and <c>/metrics</c> (Prometheus text) when
/// <c>telemetry.prometheus</c> is on. 127.0.0.1 only; every request must name a loopback Host, carry no foreign
/// Origin, and present the token: <c>Authorization: Bearer</c>, or the cookie that <c>/?token=TOKEN</c> sets once.
/// Opens before the rest of the daemon starts (a port in use stops the daemon) and closes with it.
/// </summary>
internal sealed partial class StatusPage(StatusPageModel settings, DaemonStatus status, MeterProvider? meters, ILoggerFactory loggerFactory) : IHostedLifecycleService
{
    /// <summary>
    /// Browsers send a 127.0.0.1 cookie to every port of that host, so the cookie is named by port and holds not the
    /// token but an HMAC of it for this page: another local server that sees it learns nothing it can use elsewhere.
    /// </summary>
    private string Cookie => $"mcp_broker_status_{settings.Listen.Port}";

    private string CookiePurpose => $"mcp-broker status page {settings.Listen.Port}";

    private static readonly Dictionary<string, (string Resource, string ContentType)> s_assets = new(StringComparer.Ordinal)
    {
        ["/"] = ("McpBroker.StatusPage.index.html", "text/html; charset=utf-8"),
        ["/page.js"] = ("McpBroker.StatusPage.page.js", "text/javascript; charset=utf-8"),
        ["/page.css"] = ("McpBroker.StatusPage.page.css", "text/css; charset=utf-8"),
    };

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = false };
    private readonly ILogger _logger = loggerFactory.CreateLogger<StatusPage>();
    private WebApplication? _app;
    private long _lastRefusalLogged = -60_000;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var builder = HttpFrontDoor.SlimBuilder("mcp-broker-status");
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.Listen(settings.Listen);
            o.AddServerHeader = false;
        });
        var app = builder.Build();
        app.Use(AdmitAsync);
        if (meters is not null)
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint(meters, predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
        }

        app.Run(ServeAsync);
        _app = await HttpFrontDoor.StartAsync(app, $"cannot serve the status page on {settings.Listen} (broker.status_page.port)", cancellationToken);
        LogListening(settings.Url, settings.TokenFile);
    }

    public Task StopAsync(CancellationToken cancellationToken) => HttpFrontDoor.StopAsync(_app, cancellationToken);

    /// <summary>Lets a request through only from this machine's pages, with the token; each refusal says what to fix.</summary>
    private async Task AdmitAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        var headers = context.Response.Headers;
        headers.CacheControl = "no-store";
        headers["X-Content-Type-Options"] = "nosniff";
        headers["X-Frame-Options"] = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
        if (!HttpFrontDoor.LoopbackHost(request.Host))
        {
            await HttpFrontDoor.RefuseAsync(context, StatusCodes.Status421MisdirectedRequest, $"Host '{request.Host}' is not this server's loopback address; open {settings.Url}");
            return;
        }

        // A cookie-carrying request from another local port is same-site to a browser: only this page's origin may read.
        if (request.Headers.Origin is [{ } origin] && !SameOrigin(origin))
        {
            await HttpFrontDoor.RefuseAsync(context, StatusCodes.Status403Forbidden, $"Origin '{origin}' may not read the status page");
            return;
        }

        if (request.Query["token"] is [{ } offered])
        {
            // The link with the token is used once: it becomes a cookie only this page can send (not scripts, not
            // other sites), and the address bar loses it.
            if (!Valid(offered))
            {
                LogRefused(request.Path);
                await HttpFrontDoor.RefuseAsync(context, StatusCodes.Status401Unauthorized, $"the token is not the one in {settings.TokenFile}" + ExposedHint());
                return;
            }

            context.Response.Cookies.Append(Cookie, TokenFiles.Derive(settings.TokenFile, CookiePurpose)!,
                new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
            context.Response.Redirect("/");
            return;
        }

        var header = request.Headers.Authorization.ToString();
        var bearer = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..] : null;
        var presented = bearer ?? request.Cookies[Cookie];
        var admitted = bearer is not null
            ? Valid(bearer)
            : !TokenFiles.Exposed(settings.TokenFile) && TokenFiles.MatchesDerived(settings.TokenFile, CookiePurpose, presented);
        if (!admitted)
        {
            LogRefused(request.Path);
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"mcp-broker status\"";
            await HttpFrontDoor.RefuseAsync(context, StatusCodes.Status401Unauthorized, presented is null
                ? $"the status page needs its token: open {settings.Url}?token=TOKEN once, or send 'Authorization: Bearer TOKEN', with the token from {settings.TokenFile}"
                : $"the token is not the one in {settings.TokenFile}" + ExposedHint());
            return;
        }

        await next(context);
    }

    private bool SameOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && uri.Port == settings.Listen.Port
        && HttpFrontDoor.LoopbackOrigin(origin);

    private bool Valid(string? presented) => !TokenFiles.Exposed(settings.TokenFile) && TokenFiles.Matches(settings.TokenFile, presented);

    private string ExposedHint() => TokenFiles.Exposed(settings.TokenFile) ? $" (or that file is readable by others: chmod 600 {settings.TokenFile})" : "";

    private async Task ServeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            await HttpFrontDoor.RefuseAsync(context, StatusCodes.Status405MethodNotAllowed, "the status page only reads: use GET");
            return;
        }

        if (path == "/api/status")
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(status.Build(withContext: true).ToJsonString(s_json), context.RequestAborted);
            return;
        }

        if (s_assets.TryGetValue(path, out var asset))
        {
            context.Response.ContentType = asset.ContentType;
            await using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(asset.Resource)!;
            await stream.CopyToAsync(context.Response.Body, context.RequestAborted);
            return;
        }

        await HttpFrontDoor.RefuseAsync(context, StatusCodes.Status404NotFound, path == "/metrics"
            ? "/metrics is off; set telemetry.prometheus: true to serve Prometheus text here"
            : $"nothing at {path}; the page is at /, its data at /api/status");
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "Status page at {Url} (token in {TokenFile})")]
    private partial void LogListening(string url, string tokenFile);

    /// <summary>Logs a refusal at most once a minute: a page left open after a token change polls every second.</summary>
    private void LogRefused(PathString path)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRefusalLogged);
        if (now - last >= 60_000 && Interlocked.CompareExchange(ref _lastRefusalLogged, now, last) == last)
        {
            LogRefusedRequest(path);
        }
    }

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning, Message = "Refused a status page request for {Path}: missing or wrong token (further refusals within a minute are not logged)")]
    private partial void LogRefusedRequest(string path);
}
