using System.Text.Json.Nodes;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// The requests of a 2026-07-28 client that may make an upstream ask it something (tools/call, prompts/get,
/// resources/read — the ones MRTR covers), served through the <see cref="InputBridge"/>: the upstream's request
/// becomes an <c>input_required</c> answer and the client's retry answers it (MCP 2026-07-28, "Multi Round-Trip Requests").
/// </summary>
internal sealed partial class BrokerSession
{
    /// <summary>
    /// Serves <paramref name="work"/> (given the session id the upstreams know the call by) for a client of the stateless
    /// era through the bridge; null for a client of the session era, whose requests from upstreams are sent to it as they are.
    /// </summary>
    private Task<T>? Bridged<TParams, T>(RequestContext<TParams> request, string method, string? name, Func<string, Func<JsonObject, ValueTask>?, CancellationToken, Task<T>> work,
        CancellationToken token)
        where TParams : RequestParams
        where T : class
    {
        if (!InputBridge.Applies(request.JsonRpcRequest.Context?.ProtocolVersion ?? request.Server.NegotiatedProtocolVersion))
        {
            return null;
        }

        // Over stateless HTTP each request is a session of its own, gone when it is answered; the bridged call then has a
        // session of its own too, which the upstreams route its requests to, released when it ends.
        var stateless = Stateless(request.Server, request.JsonRpcRequest);
        var owner = $"{Profile.Name}\n{method}\n{name}" + (stateless ? "" : "\n" + id);
        if (request.Params?.RequestState is { } state)
        {
            return services.Bridge.ResumeAsync<T>(owner, state, request.Params.InputResponses, request.Server, token);
        }

        var progressToken = request.Params?.Meta?["progressToken"]?.DeepClone();
        return services.Bridge.StartAsync<T>(owner, request.Server, request.JsonRpcRequest.Context?.ClientCapabilities, async (server, ct) =>
        {
            var progress = progressToken is null ? null : Progress(server, progressToken);
            if (!stateless)
            {
                using var _ = Enter(server);
                return await work(id, progress, ct);
            }

            // A stateless client whose per-session upstreams are kept across its requests (StatelessSessions: releaseAtEnd
            // false) calls them under that session's id, and they stay its own when the call ends.
            var leased = !releaseAtEnd;
            var callId = leased ? id : $"{id}/bridged";
            using var registration = services.Peers.Add(new ClientPeer(callId, Profile, client, server));
            try
            {
                return await work(callId, progress, ct);
            }
            finally
            {
                if (!leased)
                {
                    services.Registry.ReleaseSession(callId);
                }
            }
        }, token);
    }

    /// <summary>
    /// A request served without a session: over HTTP (a request comes with the stream of its own POST) and without a session
    /// id (the SDK serves a client that does not initialize statelessly, each request its own server). A shim's session
    /// has neither a POST stream nor an HTTP session id, and lasts as long as its connection.
    /// </summary>
    private static bool Stateless(McpServer server, JsonRpcRequest request) =>
        server.SessionId is null && request.Context?.RelatedTransport is not null;
}
