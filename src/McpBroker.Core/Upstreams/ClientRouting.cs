using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Upstreams;

/// <summary>
/// An upstream's server-to-client traffic, routed to client sessions through <see cref="IClientSessions"/> (which the
/// session layer implements): requests (sampling, elicitation, roots) and log messages go to the one session that
/// caused them, resource updates to the sessions subscribed, list changes to the sessions that see the upstream. What
/// cannot be attributed goes nowhere: sending it to all would leak between profiles.
/// </summary>
/// <param name="owner">The client session a per-session instance belongs to; null for a shared one.</param>
internal sealed partial class ClientRouting(UpstreamModel model, IClientSessions? sessions, string? owner, ILogger logger)
{
    /// <summary>Logging is deprecated from protocol 2026-07-28 (SEP-2577), and still sent by today's servers: the name as a string.</summary>
    public const string LogMethod = "notifications/message";

    private readonly ILogger _logger = logger;
    private readonly IClientSessions? _peers = sessions;
    private readonly string? _owner = owner;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _callers = new(StringComparer.Ordinal);

    /// <summary>Sends a resource update to the sessions subscribed to its URI, each under the URI it knows it by.</summary>
    public async ValueTask RelayResourceUpdatedAsync(JsonObject parameters, Func<string, string[]> subscribersOf)
    {
        if (parameters["uri"]?.GetValueKind() != JsonValueKind.String || _peers is null)
        {
            return;
        }

        var uri = parameters["uri"]!.GetValue<string>();
        foreach (var peer in subscribersOf(uri).Select(_peers.Find).OfType<IClientSession>())
        {
            var relayed = (JsonObject)parameters.DeepClone();
            relayed["uri"] = peer.ResourceUri(model, uri);
            (relayed["_meta"] as JsonObject)?.Remove(MetaKeys.SubscriptionId); // the broker's listen stream upstream, not the client's
            await peer.NotifyAsync(NotificationMethods.ResourceUpdatedNotification, relayed);
        }
    }

    /// <summary>Tells the sessions that see this upstream (or the one that owns it) that its resources or prompts changed.</summary>
    public async ValueTask RelayListChangedAsync(string method)
    {
        var peers = _owner is not null ? [.. _peers?.Find(_owner) is { } owner ? [owner] : Array.Empty<IClientSession>()] : _peers?.Seeing(model.Name).ToArray() ?? [];
        foreach (var peer in peers.Where(p => p.ListsResources))
        {
            await peer.NotifyAsync(method, null);
        }
    }

    /// <summary>
    /// The client session an upstream's request or log message belongs to: the one session with requests in flight on
    /// this instance, or the session a per-session instance belongs to. With requests of several sessions in flight it
    /// cannot be attributed (neither a log line nor a server-to-client request says which request caused it), and goes
    /// to none: sending it to all would leak between profiles.
    /// </summary>
    private (IClientSession? Peer, string? Why) Caller()
    {
        string? id;
        lock (_gate)
        {
            id = _callers.Count switch
            {
                1 => _callers.Keys.First(),
                0 => _owner,
                _ => null,
            };
            if (id is null)
            {
                return (null, _callers.Count > 1
                    ? $"requests of {_callers.Count} client sessions are in flight on upstream '{model.Name}', so the broker cannot tell which one should answer"
                    : $"no client session has a request in flight on upstream '{model.Name}'");
            }
        }

        return _peers?.Find(id) is { } peer ? (peer, null) : (null, $"the client session that used upstream '{model.Name}' has gone");
    }

    /// <summary>An upstream's log message goes to the session that caused it (see <see cref="Caller"/>), at the level it asked for.</summary>
    public async ValueTask RelayLogAsync(JsonObject parameters)
    {
        if (Caller().Peer is { } peer && peer.WantsLog(parameters))
        {
            await peer.NotifyAsync(LogMethod, parameters.DeepClone());
        }
    }

    /// <summary>
    /// Forwards a server-to-client request (sampling, elicitation, roots) to the session that owns it; refused with
    /// the reason when no session can answer it.
    /// </summary>
    private async ValueTask<T> AskClientAsync<T>(string method, string capability, Func<ClientCapabilities, bool> supports,
        Func<McpServer, CancellationToken, ValueTask<T>> ask, CancellationToken ct)
    {
        var (peer, why) = Caller();
        if (peer is null)
        {
            LogRefusedClientRequest(model.Name, method);
            throw new McpProtocolException($"mcp-broker cannot forward {method}: {why}", McpErrorCode.InvalidRequest);
        }

        if (!supports(peer.Capabilities))
        {
            throw new McpProtocolException($"mcp-broker cannot forward {method}: the client session ({peer.Client}) did not declare the {capability} capability",
                McpErrorCode.InvalidRequest);
        }

        return await ask(peer.Server, ct);
    }

#pragma warning disable MCP9005 // sampling and roots are deprecated from protocol 2026-07-28 (SEP-2577); today's servers still use them
    public McpClientHandlers Handlers(McpClientHandlers handlers, ClientCapabilities offered)
    {
        if (offered.Sampling is not null)
        {
            handlers.SamplingHandler = (request, _, ct) => AskClientAsync(RequestMethods.SamplingCreateMessage, "sampling", c => c.Sampling is not null,
                (server, token) => server.SampleAsync(request!, token), ct);
        }

        if (offered.Roots is not null)
        {
            handlers.RootsHandler = (request, ct) => AskClientAsync(RequestMethods.RootsList, "roots", c => c.Roots is not null,
                (server, token) => server.RequestRootsAsync(request ?? new ListRootsRequestParams(), token), ct);
        }

        if (offered.Elicitation is not null)
        {
            handlers.ElicitationHandler = (request, ct) => AskClientAsync(RequestMethods.ElicitationCreate, "elicitation",
                c => c.Elicitation is not null && (request?.Mode != "url" || c.Elicitation.Url is not null),
                (server, token) => server.ElicitAsync(request!, token), ct);
        }

        return handlers;
    }

    /// <summary>
    /// What the broker offers to answer for an upstream, fixed at connect and the same for every client (a server may
    /// shape its tools by it, and the catalog keeps one tool list per upstream): sampling and elicitation (form and URL)
    /// always, each request then routed to the session that can answer it or refused; roots only to a per-session (or
    /// per-call) instance, whose one client's roots are the right ones. A shared server that took one session's roots
    /// would apply them to every session (a filesystem server's roots are the directories it allows).
    /// </summary>
    public ClientCapabilities Offered() => new()
    {
        Sampling = new SamplingCapability(),
        Roots = _owner is null ? null : new RootsCapability { ListChanged = true },
        Elicitation = new ElicitationCapability { Form = new(), Url = new() },
    };

    /// <summary>Counts a request of a session in flight on this upstream (see <see cref="Caller"/>).</summary>
    public void Enter(string sessionId)
    {
        lock (_gate)
        {
            _callers[sessionId] = _callers.GetValueOrDefault(sessionId) + 1;
        }
    }

    public void Exit(string sessionId)
    {
        lock (_gate)
        {
            if (_callers.TryGetValue(sessionId, out var calls) && calls > 1)
            {
                _callers[sessionId] = calls - 1;
            }
            else
            {
                _callers.Remove(sessionId);
            }
        }
    }
#pragma warning restore MCP9005

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "Upstream {Name} sent {Method}, and no client session could answer it; refused")]
    private partial void LogRefusedClientRequest(string name, string method);
}
