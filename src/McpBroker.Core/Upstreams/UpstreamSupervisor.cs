using McpBroker.Config;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// Owns one upstream instance: starts it on first need (one start at a time, shared by every waiter) with the launcher
/// of its transport (<see cref="StdioLauncher"/>, <see cref="RemoteLauncher"/>), runs requests on it (up to
/// max_concurrency: <see cref="ConcurrencyGate"/>; HTTP 429/5xx retries and session renewal as <see cref="RequestRetry"/>
/// decides), checks its health after a timeout, stops it when idle (<see cref="IdleWatch"/>), notices when it dies, and
/// restarts it as its <see cref="RestartCircuit"/> allows. Server-to-client traffic goes through
/// <see cref="ClientRouting"/>, resource subscriptions through <see cref="ResourceSubscriptions"/>. Every failure on its
/// paths is a <see cref="BrokerError"/>.
/// </summary>
/// <remarks>
/// This file holds its state and the instance's life (start, end, stop, status); the other parts by role:
/// <c>.Requests.cs</c> (the request path), <c>.Client.cs</c> (the MCP client's options and notifications),
/// <c>.Subscriptions.cs</c> (resource subscriptions on the instance), <c>.Log.cs</c> (log messages).
/// </remarks>
internal sealed partial class UpstreamSupervisor : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ProcessRecords _records;
    private readonly Action<UpstreamSupervisor, ToolsChange>? _toolsChanged;
    private readonly Lock _gate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _disposals = new();
    private readonly HashSet<string> _sessions = new(StringComparer.Ordinal);
    private readonly ResourceSubscriptions _subscriptions = new();
    private readonly ClientRouting _routing;
    private readonly CancellationTokenSource _disposed = new();
    private readonly ConcurrencyGate _concurrency;
    private readonly RestartCircuit _circuit;
    private readonly IdleWatch _idle;
    private readonly UpstreamRevisions _revisions;
    private readonly StdioLauncher? _stdio;
    private readonly RemoteLauncher? _remote;
    private Task<UpstreamInstance>? _current;
    private UpstreamStateKind _state = UpstreamStateKind.Stopped;
    private int _restarts;
    private int _starts;
    private int _inFlight;
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
            _stdio = new StdioLauncher(model, _revisions, records, stderrLog, _routing.RelayLogAsync, time, loggerFactory, _logger);
        }
        else
        {
            _remote = new RemoteLauncher(model, _revisions, time, loggerFactory, _logger);
        }
        _time = time;
        _records = records;
        _concurrency = new ConcurrencyGate(model.MaxConcurrency, model.MaxQueue);
        _circuit = new RestartCircuit(model.Restart, time);
        _idle = new IdleWatch(model.IdleTimeout, time);
        if (model.IdleTimeout > TimeSpan.Zero)
        {
            _ = _idle.WatchAsync(StopIfIdleAsync, _disposed.Token);
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
                _starts == 0 ? null : _idle.LastUsed, _revisions.Current, _ceilingRestart, _memoryBytes, _cpuPercent);
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

    /// <summary>Starts the instance if none runs (nothing is sent but the handshake); the error when it cannot start.</summary>
    public async Task<BrokerError?> EnsureStartedAsync(CancellationToken ct)
    {
        var instance = await GetInstanceAsync(ct);
        return instance.Ok ? null : instance.Error;
    }

    /// <summary>What the upstream declared when it last started (kept after it stops); null before its first start.</summary>
    public ServerCapabilities? KnownCapabilities { get; private set; }

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
                var starting = StartAsync(_disposed.Token);

                // A start can fail before StartAsync returns here: its failure was recorded already, on this thread and
                // under this lock, and nothing would clear a failed start kept as the instance.
                _current = starting.IsCompleted && !starting.IsCompletedSuccessfully ? null : starting;
                current = starting;
            }
            else
            {
                current = _current;
            }
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

    /// <summary>Stops the instance the <see cref="IdleWatch"/> found idle, unless requests or subscriptions keep it busy.</summary>
    private async Task StopIfIdleAsync()
    {
        if (Volatile.Read(ref _inFlight) == 0 && !_subscriptions.Any && Running() is { } instance)
        {
            await StopInstanceAsync(instance, null, onlyIfIdle: true);
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

        // An instance stopped just before (idle, retired after its exit) may still be on its way out: stopped for good
        // means its process gone and its record removed too (a failure there was its own caller's to report).
        await Task.WhenAll(_disposals.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _concurrency.Dispose();
    }

    /// <summary>Disposes an instance and removes its process record; <see cref="StopAsync"/> waits for those in progress.</summary>
    private async Task DisposeInstanceAsync(UpstreamInstance instance)
    {
        var disposal = DisposeAndForgetAsync(instance);
        _disposals.TryAdd(disposal, 0);
        try
        {
            await disposal;
        }
        finally
        {
            _disposals.TryRemove(disposal, out _);
        }
    }

    private async Task DisposeAndForgetAsync(UpstreamInstance instance)
    {
        await instance.DisposeAsync();
        if (instance.Pid is { } pid)
        {
            _records.Remove(pid);
        }
    }
}
