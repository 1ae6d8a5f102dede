using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using McpBroker.ConformanceServer;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Server;

// The conformance suite's fixture server (@modelcontextprotocol/conformance, the scenarios' "Server Implementation
// Requirements"): its tools, prompts, resources, template, completion and subscriptions, by their exact names.
//   mcp-conformance-server [ERA]                  stdio (as an upstream behind the broker)
//   mcp-conformance-server --http PORT [ERA]      streamable HTTP at http://127.0.0.1:PORT/mcp (the suite runs against it)
// ERA: nothing (every revision the SDK speaks, 2026-07-28 included), --stateless-only (only 2026-07-28: initialize is
// refused) or --session-revision REV (a server of the session era speaking only REV: server/discover is refused).
// --start-delay MS: a slow start (as an npx download is), before it reads anything.
int? port = null;
var startDelay = 0;
var statelessOnly = false;
string? sessionRevision = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--http" when i + 1 < args.Length && int.TryParse(args[i + 1], out var p):
            port = p;
            i++;
            break;
        case "--stateless-only":
            statelessOnly = true;
            break;
        case "--session-revision" when i + 1 < args.Length:
            sessionRevision = args[++i];
            break;
        case "--start-delay" when i + 1 < args.Length && int.TryParse(args[i + 1], out var ms):
            startDelay = ms;
            i++;
            break;
        default:
            Console.Error.WriteLine("usage: mcp-conformance-server [--http PORT] [--stateless-only | --session-revision REV] [--start-delay MS]");
            return 2;
    }
}

void Configure(McpServerOptions options)
{
    Fixtures.Configure(options);
    McpBroker.TestUpstream.EraFilters.Add(options, statelessOnly, sessionRevision, received: null);
}

if (startDelay > 0)
{
    // The slow start is the behaviour under test (a package runner downloading the server), not synchronisation.
    await Task.Delay(startDelay);
}

if (port is null)
{
    await using var server = McpServer.Create(new StdioServerTransport("mcp-conformance-server"), Options());
    await server.RunAsync();
    return 0;
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
builder.Logging.ClearProviders();
// Sessions for clients that initialize (the suite's 2025 clients: sampling and elicitation need a session to ask
// through), stateless requests for 2026-07-28 clients.
// An event store, so a stream the server ends (test_reconnection, SEP-1699) can be resumed.
builder.Services.AddDistributedMemoryCache();
builder.Services.AddMcpServer(Configure).WithHttpTransport(o => o.SessionMode = HttpServerSessionMode.StatefulForInitializeClients)
    .WithDistributedCacheEventStreamStore();
var app = builder.Build();

// DNS rebinding (the suite's dns-rebinding-protection scenario; MCP 2025-11-25, Transports, Security Warning): a
// local server without authentication refuses a Host or Origin that is not localhost.
app.Use(async (context, next) =>
{
    var origin = context.Request.Headers.Origin.ToString();
    if (!IsLocal(context.Request.Host.Host) || (origin.Length > 0 && !(Uri.TryCreate(origin, UriKind.Absolute, out var o) && IsLocal(o.Host))))
    {
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        await context.Response.WriteAsync("Host or Origin is not localhost");
        return;
    }

    await next(context);
});
app.MapMcp("/mcp");
await app.RunAsync();
return 0;

McpServerOptions Options()
{
    var options = new McpServerOptions();
    Configure(options);
    return options;
}

static bool IsLocal(string host) => host is "localhost" or "127.0.0.1" or "[::1]" or "::1";
