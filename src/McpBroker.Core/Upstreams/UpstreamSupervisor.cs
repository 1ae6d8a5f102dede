using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Transports;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// Owns one upstream instance: starts it on first need (one start at a time, shared by every waiter) with the launcher
/// of its transport (<see cref="StdioLauncher"/>, <see cref="RemoteLauncher"/>), runs requests on it (up to
/// max_concurrency: <see cref="ConcurrencyGate"/>; HTTP 429/5xx retries and session renewal here), checks its health
/// after a timeout, stops it when idle, notices when it dies, and restarts it as its <see cref="RestartCircuit"/>
/// allows. Server-to-client traffic goes through <see cref="ClientRouting"/>, resource subscriptions through
/// <see cref="ResourceSubscriptions"/>. Every failure on its paths is a <see cref="BrokerError"/>.
/// </summary>
internal sealed partial class UpstreamSupervisor : IAsyncDisposable
{
    /// <summary>How long a server of unknown era has to answer server/discover before it is taken for a session-era one (the SDK's default).</summary>
    private static readonly TimeSpan s_discoverProbeTimeout = TimeSpan.FromSeconds(5);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ProcessRecords _records;
    private readonly Action<UpstreamSupervisor, ToolsChange>? _toolsChanged;
    private readonly Lock _gate = new();
    private readonly HashSet<string> _sessions = new(StringComparer.Ordinal);
    private readonly ResourceSubscriptions _subscriptions = new();
    private readonly UpstreamListen _listen = new();
    private readonly ClientRouting _routing;
    private readonly CancellationTokenSource _disposed = new();
    private readonly ConcurrencyGate _concurrency;
    private readonly RestartCircuit _circuit;
    private readonly UpstreamRevisions _revisions;
    private readonly StdioLauncher? _stdio;
    private readonly RemoteLauncher? _remote;
    private Task<UpstreamInstance>? _current;
    private UpstreamStateKind _state = UpstreamStateKind.Stopped;
    private int _restarts;
    private int _starts;
    private int _inFlight;
    private long _lastUsedTicks;
    private DateTimeOffset? _startedAt;
    private string? _ceilingRestart;
    private long? _memoryBytes;
    private double? _cpuPercent;

    /// <param name="peers">Where server-to-client requests and notifications go (null: refused and dropped).</param>
    /// <param name="owner">The client session a per-session instance belongs to.</param>
    /// <param name="stderrLog">The upstream's stderr file (shared by its instances); null for none.</param>
    /// <param name="protocols">The protocol revision each endpoint spoke last (null: probe on every start).</param>
    public UpstreamSupervisor(UpstreamModel model, ILoggerFactory loggerFactory, TimeProvider time, ProcessRecords records,
        Action<UpstreamSupervisor, ToolsChange>? toolsChanged = null, IClientSessions? peers = null, string? owner = null, Platform.RotatingFile? stderrLog = null,
        ProtocolMemory? protocols = null)
    {
        Model = model;
        _toolsChanged = toolsChanged;
        _logger = loggerFactory.CreateLogger<UpstreamSupervisor>();
        _routing = new ClientRouting(model, peers, owner, _logger);
        _revisions = new UpstreamRevisions(model, protocols, _logger);
        if (model.Remote is null)
        {
            _stdio = new StdioLauncher(model, _revisions, records, stderrLog, _routing.RelayLogAsync, loggerFactory, _logger);
        }
        else
        {
            _remote = new RemoteLauncher(model, _revisions, time, loggerFactory, _logger);
        }
        _time = time;
        _records = records;
        _concurrency = new ConcurrencyGate(model.MaxConcurrency, model.MaxQueue);
        _circuit = new RestartCircuit(model.Restart, time);
        _lastUsedTicks = time.GetUtcNow().UtcTicks;
        if (model.IdleTimeout > TimeSpan.Zero)
        {
            _ = WatchIdleAsync(_disposed.Token);
        }
    }

    private enum UpstreamStateKind
    {
        Stopped,
        Starting,
        Running,
        Backoff,
        CircuitOpen,
    }

    public UpstreamModel Model { get; }

    /// <summary>Requests waiting for a free slot (max_concurrency), for the queue-depth gauge.</summary>
    public int Queued => _concurrency.Queued;

    public UpstreamState Snapshot()
    {
        lock (_gate)
        {
            var instance = _current is { IsCompletedSuccessfully: true } t ? t.Result : null;
            var state = _state switch
            {
                UpstreamStateKind.CircuitOpen => "circuit_open",
                var s => s.ToString().ToLowerInvariant(),
            };
            return new UpstreamState(Model.Name, state, instance?.Pid, _sessions.Count, Volatile.Read(ref _inFlight), _restarts,
                _circuit.Failures, _circuit.LastError, _circuit.RetryAt, _startedAt,
                _starts == 0 ? null : new DateTimeOffset(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero), _revisions.Current, _ceilingRestart, _memoryBytes, _cpuPercent);
        }
    }

    public void ReleaseSession(string sessionId)
    {
        lock (_gate)
        {
            _sessions.Remove(sessionId);
        }

        var orphaned = _subscriptions.HeldBy(sessionId);
        if (orphaned.Length > 0)
        {
            _ = DropSubscriptionsAsync(sessionId, orphaned);
        }
    }

    /// <summary>Closes an open circuit and forgets past failures: the next request starts the upstream.</summary>
    public void ResetCircuit()
    {
        lock (_gate)
        {
            _circuit.Reset();
            if (_state is UpstreamStateKind.CircuitOpen or UpstreamStateKind.Backoff)
            {
                _state = UpstreamStateKind.Stopped;
            }
        }
    }

    /// <summary>
    /// Closes the circuit and stops the running instance: the next request starts a fresh one, which probes the
    /// protocol afresh (a server that was upgraded is then spoken to at its newest revision).
    /// </summary>
    public async Task RestartAsync()
    {
        _revisions.Forget();
        ResetCircuit();
        if (Running() is { } instance)
        {
            await StopInstanceAsync(instance, null);
        }
    }

    /// <summary>Lists the upstream's tools; an http/sse upstream's HTTP 429/5xx answers are retried with backoff.</summary>
    public Task<Outcome<IList<Tool>>> ListToolsAsync(string? sessionId, CancellationToken ct) =>
        RunAsync(sessionId, Model.StartTimeout, retryable: true, (client, token) => WireExtras.ListToolsAsync(client, Model.MaxTools, token), ct);

    /// <summary>
    /// Calls a tool; <paramref name="idempotent"/> lets HTTP 429/5xx answers of an http/sse upstream be retried, and
    /// <paramref name="progress"/> (when the caller asked for progress) receives the upstream's progress params in order.
    /// </summary>
    public async Task<Outcome<CallToolResult>> CallToolAsync(string? sessionId, string tool, IDictionary<string, JsonElement>? arguments, CancellationToken ct,
        bool idempotent = false, Func<JsonObject, ValueTask>? progress = null)
    {
        using var lease = progress is null ? default(ProgressRelay.Lease?) : ProgressRelay.Open(progress);
        var meta = Telemetry.TraceContext.Outgoing(lease is { } l ? new JsonObject { ["progressToken"] = l.Token } : null);
        return await RunAsync(sessionId, Model.CallTimeoutFor(tool), idempotent, async (client, token) =>
            ForwardedMeta.Strip(await client.CallToolAsync(new CallToolRequestParams { Name = tool, Arguments = arguments, Meta = meta }, token)), ct);
    }

    /// <summary>
    /// Any other request of a session (resources, prompts, completion) on the running (or a started) instance, with the
    /// same start, limits, timeout and failure handling as a tool call; <paramref name="retryable"/> for reads.
    /// </summary>
    /// An error the upstream answers with is thrown as it came (code and message, secrets masked), so a client sees
    /// what it would have seen directly.
    public Task<Outcome<T>> RequestAsync<T>(string? sessionId, bool retryable, Func<McpClient, CancellationToken, Task<T>> action, CancellationToken ct) =>
        RunAsync(sessionId, Model.CallTimeout, retryable, action, ct, passErrors: true);

    /// <summary>Starts the instance if none runs (nothing is sent but the handshake); the error when it cannot start.</summary>
    public async Task<BrokerError?> EnsureStartedAsync(CancellationToken ct)
    {
        var instance = await GetInstanceAsync(ct);
        return instance.Ok ? null : instance.Error;
    }

    /// <summary>What the upstream declared when it last started (kept after it stops); null before its first start.</summary>
    public ServerCapabilities? KnownCapabilities { get; private set; }

    /// <summary>
    /// Subscribes a session to a resource's updates: the first subscriber subscribes upstream, later ones join; the
    /// updates go to every subscribed session. An instance with subscriptions is not stopped for being idle.
    /// </summary>
    public Task<Outcome<bool>> SubscribeAsync(string sessionId, string uri, CancellationToken ct) =>
        _subscriptions.SubscribeAsync(sessionId, uri, token => RequestAsync(sessionId, retryable: true, async (client, t) =>
        {
            await SubscribeAsync(client, uri, t);
            return true;
        }, token), ct);

    /// <summary>Ends a session's subscription; the last one out unsubscribes upstream (when the instance still runs).</summary>
    public Task<Outcome<bool>> UnsubscribeAsync(string sessionId, string uri, CancellationToken ct) =>
        _subscriptions.UnsubscribeAsync(sessionId, uri, () => Running() is not null, token => RequestAsync(sessionId, retryable: true, async (client, t) =>
        {
            await UnsubscribeAsync(client, uri, t);
            return true;
        }, token), ct);

    /// <summary>A session has ended: its subscriptions go, and those nobody else holds are ended upstream (best effort).</summary>
    private Task DropSubscriptionsAsync(string sessionId, string[] uris) =>
        _subscriptions.DropAsync(sessionId, uris, async uri =>
        {
            if (Running() is { } instance)
            {
                try
                {
                    using var cts = new CancellationTokenSource(Model.CallTimeout);
                    await UnsubscribeAsync(instance.Client, uri, cts.Token);
                }
                catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
                {
                    // The upstream may have gone; nothing is left to end.
                }
            }
        });

    /// <summary>A new instance knows nothing of the last one's subscriptions: subscribe it to every URI someone still holds.</summary>
    private async Task ResubscribeAsync(UpstreamInstance instance)
    {
        if (UpstreamListen.Applies(instance.Client))
        {
            // Its list changes too come only on a listen stream: one is open from its start.
            try
            {
                using var cts = new CancellationTokenSource(Model.CallTimeout);
                await _listen.ListenAsync(instance.Client, _subscriptions.Uris(), cts.Token);
            }
            catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
            {
                Log.ResubscribeFailed(_logger, Model.Name, ex.GetType().Name);
            }

            return;
        }

        foreach (var uri in _subscriptions.Uris())
        {
            try
            {
                using var cts = new CancellationTokenSource(Model.CallTimeout);
                await instance.Client.SubscribeToResourceAsync(uri, cancellationToken: cts.Token);
            }
            catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
            {
                Log.ResubscribeFailed(_logger, Model.Name, ex.GetType().Name);
            }
        }
    }

    /// <summary>
    /// Subscribes the instance to a resource: by <c>resources/subscribe</c>, or on an upstream of the 2026-07-28 revision
    /// (which has no such method) by its listen stream, reopened for every URI held and this one (<see cref="UpstreamListen"/>).
    /// </summary>
    private async Task SubscribeAsync(McpClient client, string uri, CancellationToken ct)
    {
        if (!UpstreamListen.Applies(client))
        {
            await client.SubscribeToResourceAsync(uri, cancellationToken: ct);
            return;
        }

        string[] uris = [.. _subscriptions.Uris().Append(uri).Distinct(StringComparer.Ordinal)];
        if (!(await _listen.ListenAsync(client, uris, ct)).Contains(uri, StringComparer.Ordinal))
        {
            throw new McpProtocolException($"upstream '{Model.Name}' did not grant a subscription to {uri}", McpErrorCode.InvalidParams);
        }
    }

    /// <summary>Ends the instance's subscription to a resource nobody holds any more (see <see cref="SubscribeAsync(McpClient, string, CancellationToken)"/>).</summary>
    private async Task UnsubscribeAsync(McpClient client, string uri, CancellationToken ct)
    {
        if (!UpstreamListen.Applies(client))
        {
            await client.UnsubscribeFromResourceAsync(uri, cancellationToken: ct);
            return;
        }

        await _listen.ListenAsync(client, _subscriptions.Uris(), ct);
    }

    private async Task<Outcome<UpstreamInstance>> GetInstanceAsync(CancellationToken ct)
    {
        // An instance whose process has exited is not used, even if its exit watcher has not run yet.
        if (_current is { IsCompletedSuccessfully: true } known && known.Result.Ended.IsCompleted && Forget(known.Result))
        {
            _ = RetireAsync(known.Result);
        }

        Task<UpstreamInstance> current;
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested)
            {
                return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{Model.Name}' is stopping", "the daemon is shutting down");
            }

            if (_current is null)
            {
                if (_circuit.WaitingUntil() is { } retryAt)
                {
                    return _state == UpstreamStateKind.CircuitOpen
                        ? new BrokerError(BrokerErrorCode.UpstreamUnavailable,
                            $"upstream '{Model.Name}' failed {_circuit.Failures} times in a row and is paused until {retryAt:HH:mm:ss} UTC; last error: {_circuit.LastError}",
                            $"fix the cause, then run 'mcp-broker upstream restart {Model.Name}' (or wait for the retry)")
                        : new BrokerError(BrokerErrorCode.UpstreamUnavailable,
                            $"upstream '{Model.Name}' failed and restarts at {retryAt:HH:mm:ss.f} UTC (backoff after {_circuit.Failures} failures); last error: {_circuit.LastError}",
                            "retry after that time; 'broker.status' shows the state");
                }

                _state = UpstreamStateKind.Starting;
                _current = StartAsync(_disposed.Token);
            }

            current = _current;
        }

        try
        {
            return await current.WaitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new BrokerError(BrokerErrorCode.Cancelled, "the request was cancelled while the upstream started", "");
        }
        catch (Exception ex) when (ex is UpstreamStartException or SecretUnavailableException or OperationCanceledException or ObjectDisposedException)
        {
            return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{Model.Name}' could not start: {ex.Message}",
                Model.Remote is null
                    ? $"check upstreams.{Model.Name} (command, args, env_from, env_files); 'broker.status' shows the last error"
                    : $"check upstreams.{Model.Name} (url, headers, env_from, env_files{(Model.Remote.OAuth is null ? "" : ", oauth")}); 'broker.status' shows the last error");
        }
    }

    /// <summary>
    /// Negotiated, never pinned, unless <paramref name="revision"/> is one the upstream answered before. With no version set
    /// the SDK offers 2026-07-28 by <c>server/discover</c>; any error or no answer within the probe timeout means a
    /// session-era server, which then gets <c>initialize</c> at the newest revision the SDK speaks and may answer any
    /// revision the SDK supports (2024-11-05 … 2025-11-25). A set version is one the SDK demands back exactly: that is
    /// why it is only ever one the upstream chose itself. A server known to be stateless is given the whole start timeout
    /// to answer the probe (a slow start must not be taken for an old server).
    /// </summary>
    private McpClientOptions ClientOptions(string? revision)
    {
        var offered = _routing.Offered();
        return new()
        {
        ClientInfo = new Implementation { Name = "mcp-broker", Version = BrokerInfo.Version },
        ProtocolVersion = revision,
        DiscoverProbeTimeout = _revisions.Current is { } known && ProtocolMemory.IsStateless(known) ? Model.StartTimeout : s_discoverProbeTimeout,
        InitializationTimeout = Model.StartTimeout,
        Capabilities = offered,
        Handlers = _routing.Handlers(new McpClientHandlers
        {
            NotificationHandlers =
            [
                new(NotificationMethods.ToolListChangedNotification, (_, _) =>
                {
                    _toolsChanged?.Invoke(this, ToolsChange.ListChanged);
                    return ValueTask.CompletedTask;
                }),
                // Over stdio logs are read in order by the output tap instead (see StdioLauncher).
                new(ClientRouting.LogMethod, (notification, _) =>
                    Model.Remote is not null && notification.Params is JsonObject p ? _routing.RelayLogAsync(p) : ValueTask.CompletedTask),
                new(NotificationMethods.ResourceUpdatedNotification, (notification, _) =>
                    notification.Params is JsonObject p ? _routing.RelayResourceUpdatedAsync(p, _subscriptions.SubscribersOf) : ValueTask.CompletedTask),
                new(NotificationMethods.ResourceListChangedNotification, (_, _) => _routing.RelayListChangedAsync(NotificationMethods.ResourceListChangedNotification)),
                new(NotificationMethods.PromptListChangedNotification, (_, _) => _routing.RelayListChangedAsync(NotificationMethods.PromptListChangedNotification)),
            ],
        }, offered),
        };
    }

#pragma warning disable MCP9005 // roots are deprecated from protocol 2026-07-28 (SEP-2577); today's servers still use them
    /// <summary>Passes a client's notification (roots/list_changed) on to the running instance, if any.</summary>
    public async Task ForwardAsync(string method)
    {
        if (Running() is { } instance)
        {
            try
            {
                await instance.Client.SendNotificationAsync(method);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                // It has just ended; the next instance asks for roots itself.
            }
        }
    }
#pragma warning restore MCP9005

    /// <summary>Counts a started instance as running (a restart when it is not the first).</summary>
    private UpstreamInstance Started(UpstreamInstance instance)
    {
        lock (_gate)
        {
            _state = UpstreamStateKind.Running;
            _startedAt = _time.GetUtcNow();
            if (_starts++ > 0)
            {
                _restarts++;
                Telemetry.BrokerTelemetry.Restarted(Model.Name);
            }
        }

        KnownCapabilities = instance.Client.ServerCapabilities;
        _revisions.Negotiated(instance.Client);

        _ = WatchEndAsync(instance);
        _ = ResourceCeiling.WatchAsync(Model.Limits, _time, instance.Pid, instance.Marker, () => Volatile.Read(ref _inFlight), Model.CallTimeout,
            reason => RestartOverCeilingAsync(instance, reason), (memory, cpu) => (_memoryBytes, _cpuPercent) = (memory, cpu), instance.Dead);
        _ = ResubscribeAsync(instance);
        _toolsChanged?.Invoke(this, ToolsChange.Started);
        return instance;
    }

    /// <summary>Starts an instance with the launcher of the upstream's transport; a failure is counted (backoff, circuit) and thrown.</summary>
    private async Task<UpstreamInstance> StartAsync(CancellationToken ct)
    {
        try
        {
            var instance = _stdio is not null ? await _stdio.LaunchAsync(ClientOptions, ct) : await _remote!.LaunchAsync(ClientOptions, ct);
            return Started(instance);
        }
        catch (UpstreamStartException ex)
        {
            lock (_gate)
            {
                _current = null;
                RecordFailure(ex.Message);
            }

            throw;
        }
    }

    /// <summary>Counts a failure and decides when the next start may happen (call under the lock).</summary>
    private void RecordFailure(string reason) => _state = _circuit.RecordFailure(reason) switch
    {
        RestartDecision.CircuitOpen => UpstreamStateKind.CircuitOpen,
        RestartDecision.Backoff => UpstreamStateKind.Backoff,
        _ => UpstreamStateKind.Stopped,
    };

    private async Task WatchEndAsync(UpstreamInstance instance)
    {
        await instance.Ended.ConfigureAwait(false);
        if (Forget(instance))
        {
            await RetireAsync(instance);
        }
        else
        {
            await instance.MarkDeadAsync();
        }
    }

    /// <summary>
    /// Takes an exited instance out of service (under the lock) and counts the failure; true when this call did it,
    /// which makes the caller the one to retire it. Done before its requests are failed, so a client that reads
    /// "crashed" and retries at once finds no instance and starts a new one.
    /// </summary>
    private bool Forget(UpstreamInstance instance)
    {
        lock (_gate)
        {
            if (_current is not { IsCompletedSuccessfully: true } t || !ReferenceEquals(t.Result, instance))
            {
                return false;
            }

            _current = null;
            if (instance.Remote && instance.SessionExpired)
            {
                _state = UpstreamStateKind.Stopped; // the server forgot the session: the next request starts a new one
            }
            else
            {
                RecordFailure(instance.Describe());
            }

            return true;
        }
    }

    /// <summary>Fails what is in flight on an instance that died, and releases it.</summary>
    private async Task RetireAsync(UpstreamInstance instance)
    {
        await instance.MarkDeadAsync();
        Log.Ended(_logger, Model.Name, instance.Label, instance.Describe());
        await DisposeInstanceAsync(instance);
    }

    private async Task WatchIdleAsync(CancellationToken ct)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(Model.IdleTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond * 30));
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var idleFor = _time.GetUtcNow() - new DateTimeOffset(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);
                if (Volatile.Read(ref _inFlight) == 0 && idleFor >= Model.IdleTimeout && !_subscriptions.Any && Running() is { } instance)
                {
                    await StopInstanceAsync(instance, null, onlyIfIdle: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private UpstreamInstance? Running()
    {
        lock (_gate)
        {
            return _current is { IsCompletedSuccessfully: true } t ? t.Result : null;
        }
    }

    /// <summary>
    /// An instance whose usage stayed over a ceiling (limits) is stopped, its calls in flight ended: not a failure, the
    /// next request starts a fresh one. Status keeps why.
    /// </summary>
    private async Task RestartOverCeilingAsync(UpstreamInstance instance, string reason)
    {
        Log.OverCeiling(_logger, Model.Name, instance.Label, reason);
        lock (_gate)
        {
            _ceilingRestart = $"{reason}; restarted at {_time.GetUtcNow():HH:mm:ss} UTC";
        }

        await StopInstanceAsync(instance, null, why: reason);
    }

    /// <summary>
    /// Stops <paramref name="instance"/> if it is still the current one (true when this call did); <paramref name="failure"/>
    /// counts it as failed; <paramref name="why"/> is what the log says otherwise.
    /// </summary>
    private async Task<bool> StopInstanceAsync(UpstreamInstance instance, string? failure, bool onlyIfIdle = false, string? why = null)
    {
        lock (_gate)
        {
            if (_current is not { IsCompletedSuccessfully: true } t || !ReferenceEquals(t.Result, instance) || (onlyIfIdle && Volatile.Read(ref _inFlight) > 0))
            {
                return false;
            }

            _current = null;
            if (failure is null)
            {
                _state = UpstreamStateKind.Stopped;
            }
            else
            {
                RecordFailure(failure);
            }
        }

        Log.Stopping(_logger, Model.Name, instance.Label, failure ?? why ?? (onlyIfIdle ? "idle" : "requested"));
        await DisposeInstanceAsync(instance);
        return true;
    }

    public ValueTask DisposeAsync() => StopAsync("daemon stopping");

    /// <summary>Stops for good (as <see cref="DisposeAsync"/>), logging <paramref name="reason"/> as why the instance stops.</summary>
    public async ValueTask StopAsync(string reason)
    {
        Task<UpstreamInstance>? current;
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested)
            {
                return;
            }

            _disposed.Cancel();
            current = _current;
            _current = null;
            _state = UpstreamStateKind.Stopped;
        }

        if (current is not null)
        {
            try
            {
                var instance = await current;
                Log.Stopping(_logger, Model.Name, instance.Label, reason);
                await DisposeInstanceAsync(instance);
            }
            catch (Exception ex) when (ex is UpstreamStartException or SecretUnavailableException or OperationCanceledException)
            {
            }
        }

        _concurrency.Dispose();
    }

    private async Task DisposeInstanceAsync(UpstreamInstance instance)
    {
        await instance.DisposeAsync();
        if (instance.Pid is { } pid)
        {
            _records.Remove(pid);
        }
    }

}
