using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.TestUpstream;

/// <summary>
/// Makes an SDK server (which speaks every revision) behave like a server of one era, for the broker's negotiation
/// tests: over stdio in the test upstream, over HTTP in the tests' own server.
/// </summary>
internal static class EraFilters
{
    /// <param name="statelessOnly">Speak only 2026-07-28: initialize is refused as an unknown method.</param>
    /// <param name="sessionRevision">
    /// A server of the session era that speaks only this revision: server/discover is refused as an unknown method (as
    /// older servers do), and every initialize is answered with this revision, whatever was asked (as a server answers a
    /// revision it does not support).
    /// </param>
    /// <param name="received">Told the method of every request received, before anything else happens to it.</param>
    public static void Add(McpServerOptions options, bool statelessOnly, string? sessionRevision, Action<string>? received)
    {
        options.Filters.Message.IncomingFilters.Add(next => async (context, ct) =>
        {
            if (context.JsonRpcMessage is JsonRpcRequest request)
            {
                received?.Invoke(request.Method);
                var refused = (request.Method, statelessOnly, sessionRevision) switch
                {
                    ("initialize", true, _) => "this server speaks only protocol 2026-07-28: use server/discover",
                    ("server/discover", _, not null) => "Method not found: server/discover",
                    _ => null,
                };
                if (refused is not null)
                {
                    await context.Server.SendMessageAsync(new JsonRpcError
                    {
                        Id = request.Id,
                        Error = new JsonRpcErrorDetail { Code = (int)McpErrorCode.MethodNotFound, Message = refused },
                    }, ct);
                    return;
                }
            }

            await next(context, ct);
        });
        if (sessionRevision is not null)
        {
            options.Filters.Message.OutgoingFilters.Add(next => async (context, ct) =>
            {
                if (context.JsonRpcMessage is JsonRpcResponse { Result: JsonObject result } && result.ContainsKey("serverInfo") && result.ContainsKey("protocolVersion"))
                {
                    result["protocolVersion"] = sessionRevision;
                }

                await next(context, ct);
            });
        }
    }
}
