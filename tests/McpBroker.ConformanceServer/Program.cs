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
//   mcp-conformance-server                 stdio (as an upstream behind the broker)
//   mcp-conformance-server --http PORT     streamable HTTP at http://127.0.0.1:PORT/mcp (the suite runs against it)
var port = args.Length == 2 && args[0] == "--http" && int.TryParse(args[1], out var p) ? p : (int?)null;
if (args.Length > 0 && port is null)
{
    Console.Error.WriteLine("usage: mcp-conformance-server [--http PORT]");
    return 2;
}

if (port is null)
{
    await using var server = McpServer.Create(new StdioServerTransport("mcp-conformance-server"), Fixtures.Options());
    await server.RunAsync();
    return 0;
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
builder.Logging.ClearProviders();
// Sessions for clients that initialize (the suite's 2025 clients: sampling and elicitation need a session to ask
// through), stateless requests for 2026-07-28 clients.
builder.Services.AddMcpServer(Fixtures.Configure).WithHttpTransport(o => o.SessionMode = HttpServerSessionMode.StatefulForInitializeClients);
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

static bool IsLocal(string host) => host is "localhost" or "127.0.0.1" or "[::1]" or "::1";
