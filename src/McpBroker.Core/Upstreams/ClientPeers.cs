using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using McpBroker.Config;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Upstreams;

/// <summary>
/// A connected client session as the upstreams see it: where their requests (sampling, elicitation, roots) and
/// notifications (logs, resource updates, list changes) for it go.
/// </summary>
internal sealed class ClientPeer(string id, ProfileModel profile, string client, McpServer server)
{
    private McpServer _server = server;
    private static readonly string[] s_levels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
    private int _minLevel = -1;

    public string Id => id;

    public ProfileModel Profile => profile;

    /// <summary>The client's name as its hello gave it (for error messages).</summary>
    public string Client => client;

    /// <summary>
    /// The server object of the session's latest request. From protocol 2026-07-28 a client declares its capabilities
    /// per request, and only the request-bound server knows them.
    /// </summary>
    public McpServer Server => Volatile.Read(ref _server);

    public ClientCapabilities Capabilities => Server.ClientCapabilities ?? new ClientCapabilities();

    public void Use(McpServer server) => Volatile.Write(ref _server, server);

    /// <summary>The client's <c>logging/setLevel</c>: relayed log messages below it are not sent.</summary>
    public void SetLogLevel(string level) => _minLevel = Array.IndexOf(s_levels, level);

    public bool WantsLog(JsonObject parameters) =>
        _minLevel < 0 || Array.IndexOf(s_levels, parameters["level"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? parameters["level"]!.GetValue<string>() : "") >= _minLevel;

    /// <summary>Sends a notification; false when the session has gone.</summary>
    public async ValueTask<bool> NotifyAsync(string method, JsonNode? parameters)
    {
        try
        {
            await Server.SendMessageAsync(new JsonRpcNotification { Method = method, Params = parameters });
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            return false;
        }
    }
}

/// <summary>Every client session connected to the daemon (over the socket or the HTTP front door), by session id.</summary>
internal sealed class ClientPeers
{
    private readonly ConcurrentDictionary<string, ClientPeer> _peers = new(StringComparer.Ordinal);

    /// <summary>Registers a session until the returned handle is disposed.</summary>
    public IDisposable Add(ClientPeer peer)
    {
        _peers[peer.Id] = peer;
        return new Registration(this, peer);
    }

    public ClientPeer? Find(string? sessionId) => sessionId is not null && _peers.TryGetValue(sessionId, out var peer) ? peer : null;

    /// <summary>The sessions whose profile includes <paramref name="upstream"/>.</summary>
    public IEnumerable<ClientPeer> Seeing(string upstream) => _peers.Values.Where(p => p.Profile.Upstreams.Contains(upstream, StringComparer.Ordinal));

    private sealed class Registration(ClientPeers owner, ClientPeer peer) : IDisposable
    {
        public void Dispose() => ((ICollection<KeyValuePair<string, ClientPeer>>)owner._peers).Remove(new KeyValuePair<string, ClientPeer>(peer.Id, peer));
    }
}
