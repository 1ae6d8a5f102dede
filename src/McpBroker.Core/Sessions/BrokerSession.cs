using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Facade;
using McpBroker.Upstreams;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>The services a client session is served from, whichever door (socket or HTTP) it came in by.</summary>
internal sealed record SessionServices(Config.ConfigState Config, BrokerFacade Facade, BrokerResources Resources, ToolCatalog Catalog, UpstreamRegistry Registry,
    ClientPeers Peers)
{
    /// <summary>Upstream calls waiting for a 2026-07-28 client's retry (see <see cref="InputBridge"/>).</summary>
    public InputBridge Bridge { get; init; } = new(TimeProvider.System);
}

/// <summary>
/// One client session bound to a profile: the MCP server handlers it is answered with (tools through the facade;
/// resources, prompts and completion through <see cref="BrokerResources"/>; logging/setLevel for relayed logs), and
/// its lifetime (registered as a peer for the upstreams' requests, told when its raw tool list changes, released at the end).
/// A stateless HTTP request is served by a session of its own whose id names the client's longer session
/// (<see cref="StatelessSessions"/>): <paramref name="releaseAtEnd"/> false leaves its per-session upstreams to that.
/// </summary>
internal sealed partial class BrokerSession(SessionServices services, ProfileModel initial, string id, string client, ILogger logger, bool releaseAtEnd = true)
{
    /// <summary>Roots are deprecated from protocol 2026-07-28 (SEP-2577) and still used: the method name as a string.</summary>
    private const string RootsListChanged = "notifications/roots/list_changed";

    private readonly ILogger _logger = logger;
    private readonly SemaphoreSlim _listedGate = new(1, 1);
    private readonly Lock _attachGate = new();
    private string? _listedSignature;
    private (McpServer Server, CancellationToken Ct)? _notify;
    private ClientPeer? _peer;
    private IDisposable? _registration;
    private ProfileModel? _profile;
    private int _profileVersion = services.Config.Version;

    // Lists being answered (tools or prompts, by request) whose items carry fields the SDK's types drop: merged back on the way out.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<RequestId, (string Key, IReadOnlyList<object> Items)> _listings = new();

    /// <summary>
    /// The session's profile as the config says now: its upstreams, gates and overrides follow a reload; its shape
    /// (compact or raw, naming, transparency, budget) is what the session began with, since the client has already
    /// been told its capabilities and tool names.
    /// </summary>
    private ProfileModel Profile
    {
        get
        {
            var version = services.Config.Version;
            if (_profile is null || version != _profileVersion)
            {
                _profile ??= initial;
                if (services.Config.Current.Profiles.GetValueOrDefault(initial.Name) is { } latest)
                {
                    var sameShape = latest.CompactToolsEnabled == initial.CompactToolsEnabled && latest.NameStyle == initial.NameStyle
                        && latest.Transparent == initial.Transparent && latest.MaxTools == initial.MaxTools && latest.OnOverBudget == initial.OnOverBudget;
                    _profile = sameShape ? latest : latest with
                    {
                        CompactToolsEnabled = initial.CompactToolsEnabled, NameStyle = initial.NameStyle, Transparent = initial.Transparent,
                        MaxTools = initial.MaxTools, OnOverBudget = initial.OnOverBudget,
                    };
                }
                else
                {
                    // The profile was deleted: its sessions stay connected but reach no upstream any more.
                    _profile = initial with { Upstreams = [] };
                }

                _profileVersion = version;
            }

            return _profile!;
        }
    }

    public string Id => id;

    /// <summary>
    /// The server a client sees. A raw profile serves resources, prompts and completion as MCP methods; a compact one
    /// does not declare them (a client lists what a server declares when it connects, which would start every upstream)
    /// and reaches them through unlisted broker tools instead (<see cref="FacadeTools.Unlisted"/>).
    /// </summary>
    public McpServerOptions Options()
    {
        var facade = services.Facade;
        var options = new McpServerOptions
        {
            ServerInfo = new Implementation { Name = "mcp-broker", Version = BrokerInfo.Version },
            ServerInstructions = initial.CompactToolsEnabled ? FacadeTools.Instructions(initial.NameStyle) : null,
            // Compact sessions too: search_tools' description names the servers and tools behind it, and changes with the catalog.
            Capabilities = new ServerCapabilities { Tools = new ToolsCapability { ListChanged = true } },
            Handlers = new McpServerHandlers
            {
                NotificationHandlers = [new(RootsListChanged, (_, _) => OnRootsChangedAsync())],
                ListToolsHandler = async (request, token) =>
                {
                    using var _ = Enter(request.Server);
                    // The signature of the very view listed: one taken after could already include an upstream that arrived
                    // meanwhile, and the session would never be told of it.
                    var (result, signature) = await facade.ListToolsWithSignatureAsync(Profile, id, request.Params?.Cursor, token);
                    Keep(request.JsonRpcRequest.Id, "tools", [.. result.Tools]);

                    if (signature is not null && request.Params?.Cursor is null)
                    {
                        _listedSignature = signature;

                        // An upstream listed in the background after this view was taken, but before the signature was
                        // kept, found nothing to compare with: compare now.
                        if (_notify is { } notify && facade.CurrentSignature(Profile) != signature)
                        {
                            NotifyLater(notify.Server, notify.Ct);
                        }
                    }

                    return ListCaching.Hinted(request, result);
                },
                CallToolHandler = async (request, token) =>
                {
                    using var trace = Traced(request);
                    if (Bridged(request, "tools/call", request.Params?.Name, (session, progress, ct) =>
                        {
                            Telemetry.CallLog.Client.Value = _peer?.Label;
                            return facade.CallToolAsync(Profile, session, request.Params!, ct, progress).AsTask();
                        }, token) is { } bridged)
                    {
                        return await bridged;
                    }

                    using var _ = Enter(request.Server);
                    Telemetry.CallLog.Client.Value = _peer?.Label;
                    return await facade.CallToolAsync(Profile, id, request.Params!, token, ProgressTo(request));
                },
#pragma warning disable MCP9005 // logging is deprecated from protocol 2026-07-28 (SEP-2577); today's servers still send logs, and clients set their level
                SetLoggingLevelHandler = (request, _) =>
                {
                    using (Enter(request.Server))
                    {
                        _peer!.SetLogLevel(request.Params?.Level.ToString().ToLowerInvariant() ?? "");
                    }

                    return ValueTask.FromResult(new EmptyResult());
                },
#pragma warning restore MCP9005
            },
        };
        options.Handlers.SubscriptionsListenHandler = ListenAsync;
        options.Filters.Message.OutgoingFilters.Add(WithWireExtras);
        options.Filters.Message.OutgoingFilters.Add(SecretsMasked); // last: it sees the message as it leaves
        if (!initial.CompactToolsEnabled)
        {
            options.Capabilities.Resources = new ResourcesCapability { Subscribe = true, ListChanged = true };
            options.Capabilities.Prompts = new PromptsCapability { ListChanged = true };
            var handlers = options.Handlers;
            var resources = services.Resources;
            handlers.ListResourcesHandler = (request, token) => Serve(request, async () => ListCaching.Hinted(request, await resources.ListResourcesAsync(Profile, id, request.Params, token)));
            handlers.ListResourceTemplatesHandler = (request, token) =>
                Serve(request, async () => ListCaching.Hinted(request, await resources.ListResourceTemplatesAsync(Profile, id, request.Params, token)));
            handlers.ReadResourceHandler = (request, token) => Bridged(request, "resources/read", request.Params?.Uri, (session, _, ct) =>
                resources.ReadResourceAsync(Profile, session, request.Params!, ct).AsTask(), token) is { } read
                ? new(read) : Serve(request, () => resources.ReadResourceAsync(Profile, id, request.Params!, token));
            handlers.SubscribeToResourcesHandler = (request, token) => Serve(request, () => resources.SubscribeAsync(Profile, id, request.Params!.Uri, subscribe: true, token));
            handlers.UnsubscribeFromResourcesHandler = (request, token) => Serve(request, () => resources.SubscribeAsync(Profile, id, request.Params!.Uri, subscribe: false, token));
            handlers.ListPromptsHandler = (request, token) => Serve(request, async () =>
            {
                var prompts = await resources.ListPromptsAsync(Profile, id, request.Params, token);
                Keep(request.JsonRpcRequest.Id, "prompts", [.. prompts.Prompts]);
                return ListCaching.Hinted(request, prompts);
            });
            handlers.GetPromptHandler = (request, token) => Bridged(request, "prompts/get", request.Params?.Name, (session, _, ct) =>
                resources.GetPromptAsync(Profile, session, request.Params!, ct).AsTask(), token) is { } prompt
                ? new(prompt) : Serve(request, () => resources.GetPromptAsync(Profile, id, request.Params!, token));
            handlers.CompleteHandler = (request, token) => Serve(request, () => resources.CompleteAsync(Profile, id, request.Params!, token));
        }

        return options;
    }

    /// <summary>Remembers the items of a list being answered when any carries what the SDK's type of it dropped.</summary>
    private void Keep(RequestId request, string key, IReadOnlyList<object> items)
    {
        if (WireExtras.Any(items))
        {
            _listings[request] = (key, items);
        }
    }

    /// <summary>
    /// Puts back into a tools/list or prompts/list answer what the upstreams wrote in their definitions and the SDK's
    /// types do not model (<see cref="WireExtras"/>): the answer leaves as the upstream's definitions, renamed where the
    /// profile renames.
    /// </summary>
    private McpMessageHandler WithWireExtras(McpMessageHandler next) => async (context, ct) =>
    {
        if (context.JsonRpcMessage is JsonRpcResponse { Result: JsonObject result } response && _listings.TryRemove(response.Id, out var kept)
            && result[kept.Key] is JsonArray listed && listed.Count == kept.Items.Count)
        {
            for (var i = 0; i < listed.Count; i++)
            {
                if (listed[i] is { } definition)
                {
                    WireExtras.MergeInto(definition, kept.Items[i]);
                }
            }
        }
        else if (context.JsonRpcMessage is JsonRpcError error)
        {
            _listings.TryRemove(error.Id, out _);
        }

        await next(context, ct);
    };

    /// <summary>
    /// Every message to the client passes the daemon's one masking step (<see cref="SecretMask"/>): results and errors
    /// of upstreams, relayed notifications and requests, the broker's own answers. A tool that returns a configured
    /// secret, even as its legitimate result, would otherwise hand it to the model.
    /// </summary>
    private static McpMessageHandler SecretsMasked(McpMessageHandler next) => (context, ct) =>
    {
        SecretMask.Mask(context.JsonRpcMessage);
        return next(context, ct);
    };

    /// <summary>
    /// <see cref="Options"/>, and for a transparent profile what its one upstream declared at its last start (started now
    /// if it never has, as a direct connection would): its instructions, and only the capabilities it has — a client of
    /// a transparent profile sees the server as it is, with what its revision lacks absent rather than empty. An
    /// upstream that cannot start leaves the broker's own declaration (its error then comes with the first request).
    /// </summary>
    public async Task<McpServerOptions> OptionsAsync(CancellationToken ct)
    {
        var options = Options();
        if (initial.Transparent && !initial.CompactToolsEnabled && initial.Upstreams is [var only]
            && await services.Registry.DeclarationAsync(only, id, ct) is { Capabilities: { } declared } upstream
            && System.Text.Json.JsonSerializer.Deserialize(declared, ModelContextProtocol.McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(ServerCapabilities))) is ServerCapabilities capabilities)
        {
            Mirror(options, capabilities, upstream.Instructions);
        }

        return options;
    }

    private static void Mirror(McpServerOptions options, ServerCapabilities upstream, string? instructions)
    {
        // The SDK declares a capability for every handler it is given: a handler goes with what the upstream lacks.
        var (own, handlers) = (options.Capabilities!, options.Handlers);
        options.ServerInstructions = instructions;
        if (upstream.Tools is null)
        {
            own.Tools = null;
            (handlers.ListToolsHandler, handlers.CallToolHandler) = (null, null);
        }

        if (upstream.Resources is null)
        {
            own.Resources = null;
            (handlers.ListResourcesHandler, handlers.ListResourceTemplatesHandler, handlers.ReadResourceHandler) = (null, null, null);
        }
        else
        {
            own.Resources = new ResourcesCapability { Subscribe = upstream.Resources.Subscribe, ListChanged = true };
        }

        if (upstream.Resources?.Subscribe != true)
        {
            (handlers.SubscribeToResourcesHandler, handlers.UnsubscribeFromResourcesHandler) = (null, null);
        }

        if (upstream.Prompts is null)
        {
            own.Prompts = null;
            (handlers.ListPromptsHandler, handlers.GetPromptHandler) = (null, null);
        }

        if (upstream.Completions is null)
        {
            own.Completions = null;
            handlers.CompleteHandler = null;
        }
    }

    /// <summary>Serves the session until it ends; the upstreams are told it has gone.</summary>
    public async Task RunAsync(McpServer server, CancellationToken ct)
    {
        Enter(server).Dispose();
        void OnCatalogChanged(CatalogSnapshot snapshot) => _ = NotifyIfChangedAsync(server, ct);
        void OnReloaded(BrokerModel model)
        {
            _peer?.Follow(Profile);
            _ = NotifyIfChangedAsync(server, ct);
        }

        // Compact sessions too: search_tools' description names what the catalog holds.
        _notify = (server, ct);
        services.Catalog.Changed += OnCatalogChanged;

        services.Config.Reloaded += OnReloaded;
        using var span = Telemetry.BrokerTelemetry.StartSession(id, initial.Name, client);
        try
        {
            await server.RunAsync(ct);
        }
        finally
        {
            services.Catalog.Changed -= OnCatalogChanged;
            services.Config.Reloaded -= OnReloaded;
            End();
        }
    }

    /// <summary>Forgets the session: the peer is unregistered, its per-session upstreams stop, its subscriptions end.</summary>
    public void End()
    {
        _registration?.Dispose();
        if (releaseAtEnd)
        {
            services.Registry.ReleaseSession(id);
        }
    }

    /// <summary>
    /// Registers the session as the peer its upstreams' requests go to (at its start, or its first request over HTTP),
    /// and marks the request in flight (see <see cref="ClientPeer.Server"/>) until the handle is disposed.
    /// </summary>
    private IDisposable Enter(McpServer server)
    {
        lock (_attachGate)
        {
            if (_peer is null)
            {
                _peer = new ClientPeer(id, Profile, client, server);
                _registration = services.Peers.Add(_peer);
            }
        }

        return _peer.Enter(server);
    }

    private async ValueTask<T> Serve<TParams, T>(RequestContext<TParams> request, Func<ValueTask<T>> work)
    {
        using var _ = Enter(request.Server);
        using var trace = Traced(request);
        return await work();
    }

    /// <summary>The request's W3C trace context from its <c>_meta</c>, for its spans and the upstream requests it makes.</summary>
    private static Telemetry.TraceContext.Scope Traced<TParams>(RequestContext<TParams> request) =>
        Telemetry.TraceContext.Enter(request.JsonRpcRequest.Params?["_meta"] as JsonObject, request.JsonRpcRequest.Method);

    /// <summary>The client's notifications/roots/list_changed, passed on to the upstreams that asked it for roots (its own).</summary>
    private ValueTask OnRootsChangedAsync() => new(services.Registry.ForwardToSessionAsync(id, RootsListChanged));

    /// <summary>
    /// When the client asked for progress, a route that sends the upstream's progress params to it under the client's
    /// own token (the params are relayed as they came, so no value is rounded through the SDK's float fields).
    /// </summary>
    private static Func<JsonObject, ValueTask>? ProgressTo(RequestContext<CallToolRequestParams> request) =>
        request.Params?.Meta?["progressToken"] is { } clientToken ? Progress(request.Server, clientToken) : null;

    /// <summary>
    /// A call's progress under the client's token, on <paramref name="server"/> (the request's stream; for a bridged call,
    /// the client's latest request of it). One token gets the broker's own start notes (StartProgress: 0.5, 0.75, …) and
    /// then the upstream's values, which may begin at 0: the spec requires the values the client sees to increase, so one
    /// that does not is not passed on (MCP "Progress": "The progress value MUST increase with each notification").
    /// </summary>
    private static Func<JsonObject, ValueTask> Progress(McpServer server, JsonNode clientToken)
    {
        var order = new SemaphoreSlim(1, 1);
        double? last = null;
        return async parameters =>
        {
            await order.WaitAsync();
            try
            {
                var value = parameters["progress"] is JsonValue v && v.TryGetValue<double>(out var d) ? d : (double?)null;
                if (value is { } next && last is { } before && next <= before)
                {
                    return;
                }

                var relayed = (JsonObject)parameters.DeepClone();
                relayed["progressToken"] = clientToken.DeepClone();
                await server.SendMessageAsync(new JsonRpcNotification { Method = NotificationMethods.ProgressNotification, Params = relayed });
                last = value ?? last;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                // The client has no stream open for the call (a bridged call between rounds, or a session gone): progress
                // then has nowhere to go.
            }
            finally
            {
                order.Release();
            }
        };
    }

    private void NotifyLater(McpServer server, CancellationToken ct) => _ = NotifyIfChangedAsync(server, ct);

    /// <summary>Tells a raw session its tool list changed, only when what it last listed is out of date.</summary>
    private async Task NotifyIfChangedAsync(McpServer server, CancellationToken ct)
    {
        await _listedGate.WaitAsync(ct);
        try
        {
            if (_listedSignature is null)
            {
                return;
            }

            // What the catalog holds now: a change notice never waits for, or starts, a listing.
            var now = services.Facade.CurrentSignature(Profile);
            if (now != _listedSignature)
            {
                _listedSignature = now;
                if (_peer?.Subscriptions is { } listen)
                {
                    await listen(NotificationMethods.ToolListChangedNotification, null);
                }
                else
                {
                    await server.SendNotificationAsync(NotificationMethods.ToolListChangedNotification, ct);
                }
                LogListChanged(id);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
        }
        finally
        {
            _listedGate.Release();
        }
    }

    [LoggerMessage(EventId = 306, Level = LogLevel.Debug, Message = "Session {SessionId} told its tool list changed")]
    private partial void LogListChanged(string sessionId);
}
