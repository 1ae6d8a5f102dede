using System.Text.Json.Nodes;
using McpBroker.Config;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Upstreams;

/// <summary>
/// Where an upstream's server-to-client traffic goes: the client sessions connected to the daemon, as the upstreams
/// see them. Declared here and implemented by the session layer, so Upstreams raises requests (sampling, elicitation,
/// roots) and notifications (logs, resource updates, list changes) without knowing profiles or exposed names.
/// </summary>
internal interface IClientSessions
{
    /// <summary>The connected session with this id, or null (gone, or never connected).</summary>
    IClientSession? Find(string? sessionId);

    /// <summary>The sessions whose profile includes <paramref name="upstream"/>.</summary>
    IEnumerable<IClientSession> Seeing(string upstream);
}

/// <summary>One connected client session (see <see cref="IClientSessions"/>).</summary>
internal interface IClientSession
{
    /// <summary>The client's name, for messages.</summary>
    string Client { get; }

    /// <summary>The server object a request to the client goes out on (the session's request in flight, else its last).</summary>
    McpServer Server { get; }

    /// <summary>What the client declared it can answer.</summary>
    ClientCapabilities Capabilities { get; }

    /// <summary>Whether the session lists upstreams' resources and prompts itself (so their list changes concern it).</summary>
    bool ListsResources { get; }

    /// <summary>Whether a relayed log message is at or above the level the client asked for.</summary>
    bool WantsLog(JsonObject parameters);

    /// <summary>The name the session knows an upstream's resource URI by.</summary>
    string ResourceUri(UpstreamModel upstream, string uri);

    /// <summary>Sends a notification; false when the session has gone.</summary>
    ValueTask<bool> NotifyAsync(string method, JsonNode? parameters);
}
