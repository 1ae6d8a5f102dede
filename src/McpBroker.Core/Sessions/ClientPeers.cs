using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// A connected client session: where the upstreams' requests (sampling, elicitation, roots) and
/// notifications (logs, resource updates, list changes) for it go.
/// </summary>
internal sealed class ClientPeer(string id, ProfileModel profile, string client, McpServer server) : IClientSession
{
    private ProfileModel _profile = profile;
    private readonly List<McpServer> _inFlight = [];
    private McpServer _last = server;
    private static readonly string[] s_levels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
    private int _minLevel = -1;

    public string Id => id;

    /// <summary>The session's profile as the config says now (see <see cref="Follow"/>).</summary>
    public ProfileModel Profile => Volatile.Read(ref _profile);

    /// <summary>After a config reload: the profile's new definition.</summary>
    public void Follow(ProfileModel latest) => Volatile.Write(ref _profile, latest);

    /// <summary>The client's name as its hello gave it (the shim's --client: how it was wired, e.g. its config format).</summary>
    public string Client => client;

    /// <summary>
    /// What the client calls itself: the name in its MCP clientInfo (from initialize, or a 2026-07-28 request's _meta),
    /// else the hello's name — so Qwen Code wired through a Gemini-format entry shows as qwen-code, not gemini.
    /// </summary>
    public string Label => Server.ClientInfo?.Name is { Length: > 0 } name ? name : client;

    /// <summary>
    /// The server object of a request of the session still in flight (the latest), else of its last request. Over HTTP a
    /// request to the client goes out on the stream of the request it is bound to, which must still be open; and from
    /// protocol 2026-07-28 a client declares its capabilities per request, which only the request-bound server knows.
    /// </summary>
    public McpServer Server
    {
        get
        {
            lock (_inFlight)
            {
                return _inFlight.Count > 0 ? _inFlight[^1] : _last;
            }
        }
    }

    /// <summary>When the session was connected.</summary>
    public DateTimeOffset Since { get; } = DateTimeOffset.UtcNow;

    public ClientCapabilities Capabilities => Server.ClientCapabilities ?? new ClientCapabilities();

    /// <summary>A compact profile shows resources through the facade, so an upstream's list changes do not concern it.</summary>
    public bool ListsResources => !Profile.CompactToolsEnabled;

    public string ResourceUri(UpstreamModel upstream, string uri) => ResourceNames.Expose(Profile, upstream, uri);

    /// <summary>Marks a request of the session in flight until the handle is disposed.</summary>
    public IDisposable Enter(McpServer server)
    {
        lock (_inFlight)
        {
            _inFlight.Add(server);
            _last = server;
        }

        return new InFlight(this, server);
    }

    private sealed class InFlight(ClientPeer peer, McpServer server) : IDisposable
    {
        public void Dispose()
        {
            lock (peer._inFlight)
            {
                peer._inFlight.Remove(server);
            }
        }
    }

    /// <summary>The client's <c>logging/setLevel</c>: relayed log messages below it are not sent.</summary>
    public void SetLogLevel(string level) => _minLevel = Array.IndexOf(s_levels, level);

    public bool WantsLog(JsonObject parameters) =>
        _minLevel < 0 || Array.IndexOf(s_levels, parameters["level"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? parameters["level"]!.GetValue<string>() : "") >= _minLevel;

    /// <summary>
    /// A 2026-07-28 client's <c>subscriptions/listen</c> stream, while one is open: resource updates and list changes go
    /// there (tagged, filtered by what it asked for) instead of to the session (MCP 2026-07-28, "Subscriptions", SEP-2575).
    /// </summary>
    public Func<string, JsonNode?, ValueTask<bool>>? Subscriptions { get; set; }

    /// <summary>Sends a notification; false when the session has gone.</summary>
    public async ValueTask<bool> NotifyAsync(string method, JsonNode? parameters)
    {
        if (Subscriptions is { } listen && (method == NotificationMethods.ResourceUpdatedNotification || method.EndsWith("/list_changed", StringComparison.Ordinal)))
        {
            return await listen(method, parameters);
        }

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
internal sealed class ClientPeers : IClientSessions
{
    private readonly ConcurrentDictionary<string, ClientPeer> _peers = new(StringComparer.Ordinal);

    /// <summary>Registers a session until the returned handle is disposed.</summary>
    public IDisposable Add(ClientPeer peer)
    {
        _peers[peer.Id] = peer;
        return new Registration(this, peer);
    }

    public IEnumerable<ClientPeer> All => _peers.Values;

    public ClientPeer? Find(string? sessionId) => sessionId is not null && _peers.TryGetValue(sessionId, out var peer) ? peer : null;

    /// <summary>The sessions whose profile includes <paramref name="upstream"/>.</summary>
    public IEnumerable<ClientPeer> Seeing(string upstream) => _peers.Values.Where(p => p.Profile.Upstreams.Contains(upstream, StringComparer.Ordinal));

    IClientSession? IClientSessions.Find(string? sessionId) => Find(sessionId);

    IEnumerable<IClientSession> IClientSessions.Seeing(string upstream) => Seeing(upstream);

    private sealed class Registration(ClientPeers owner, ClientPeer peer) : IDisposable
    {
        public void Dispose() => ((ICollection<KeyValuePair<string, ClientPeer>>)owner._peers).Remove(new KeyValuePair<string, ClientPeer>(peer.Id, peer));
    }
}
