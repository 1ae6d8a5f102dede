using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Config;
using McpBroker.Exposure;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Upstreams;

/// <summary>What status shows for one upstream instance: a snapshot of its live state.</summary>
public sealed record UpstreamState(
    string Name,
    string State,
    int? Pid,
    int Sessions,
    int InFlight,
    int Restarts,
    int ConsecutiveFailures,
    string? LastError,
    DateTimeOffset? RetryAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? LastUsedAt,
    string? Protocol = null,
    string? CeilingRestart = null,
    long? MemoryBytes = null,
    double? CpuPercent = null)
{
    /// <summary>Failed since its last success (a failed start, a crash, a hang), or waiting out a backoff or an open circuit.</summary>
    public bool Failing => ConsecutiveFailures > 0 || State is "backoff" or "circuit_open";

    /// <summary>The failure in words, for a list or search that leaves the upstream out.</summary>
    public string DescribeFailure() => $"upstream '{Name}' is {State.Replace('_', ' ')} after {ConsecutiveFailures} failure(s)"
        + (RetryAt is { } at ? $", retried at {at:HH:mm:ss} UTC" : "") + $"; last error: {LastError}";
}

/// <summary>Why an upstream's tools may differ from what the catalog holds.</summary>
internal enum ToolsChange
{
    /// <summary>A new instance started: it may serve other tools than the last one (or than the disk cache).</summary>
    Started,

    /// <summary>The upstream sent notifications/tools/list_changed.</summary>
    ListChanged,
}

/// <summary>
/// Owns one upstream instance: starts it on first need (one start at a time, shared by every waiter), lets
/// requests run on it at once (up to max_concurrency), stops it when idle, notices when it dies, and retries
/// with exponential backoff until its circuit opens. Every failure on its paths is a <see cref="BrokerError"/>.
/// </summary>
internal sealed partial class UpstreamSupervisor : IAsyncDisposable
{
    /// <summary>Logging is deprecated from protocol 2026-07-28 (SEP-2577), and still sent by today's servers: the name as a string.</summary>
    private const string LogMethod = "notifications/message";

    private static readonly TimeSpan s_pingTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a server of unknown era has to answer server/discover before it is taken for a session-era one (the SDK's default).</summary>
    private static readonly TimeSpan s_discoverProbeTimeout = TimeSpan.FromSeconds(5);

    private static readonly string[] s_inheritedVariables =
        ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
         "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
         "npm_config_cache", "npm_config_registry", "DOTNET_ROOT"];

    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly ProcessRecords _records;
    private readonly Action<UpstreamSupervisor, ToolsChange>? _toolsChanged;
    private readonly Lock _gate = new();
    private readonly HashSet<string> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _callers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _subscriptions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _subscriptionGate = new(1, 1);
    private readonly Eras.UpstreamListen _listen = new();
    private readonly ClientPeers? _peers;
    private readonly string? _owner;
    private readonly Daemon.RotatingFile? _stderrLog;
    private readonly CancellationTokenSource _disposed = new();
    private readonly SemaphoreSlim? _slots;
    private readonly ProtocolMemory? _protocols;
    private Task<Instance>? _current;
    private UpstreamStateKind _state = UpstreamStateKind.Stopped;
    private string? _lastError;
    private DateTimeOffset? _retryAt;
    private int _failures;
    private int _restarts;
    private int _starts;
    private int _inFlight;
    private int _queued;
    private long _lastUsedTicks;
    private DateTimeOffset? _startedAt;
    private string? _protocol;
    private string? _ceilingRestart;
    private long? _memoryBytes;
    private double? _cpuPercent;

    /// <param name="peers">Where server-to-client requests and notifications go (null: refused and dropped).</param>
    /// <param name="owner">The client session a per-session instance belongs to.</param>
    /// <param name="stderrLog">The upstream's stderr file (shared by its instances); null for none.</param>
    /// <param name="protocols">The protocol revision each endpoint spoke last (null: probe on every start).</param>
    public UpstreamSupervisor(UpstreamModel model, ILoggerFactory loggerFactory, TimeProvider time, ProcessRecords records,
        Action<UpstreamSupervisor, ToolsChange>? toolsChanged = null, ClientPeers? peers = null, string? owner = null, Daemon.RotatingFile? stderrLog = null,
        ProtocolMemory? protocols = null)
    {
        Model = model;
        _protocols = protocols;
        _protocol = protocols?.Recall(model);
        _stderrLog = stderrLog;
        _peers = peers;
        _owner = owner;
        _toolsChanged = toolsChanged;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<UpstreamSupervisor>();
        _time = time;
        _records = records;
        _slots = model.MaxConcurrency is { } max ? new SemaphoreSlim(max, max) : null;
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
    public int Queued => Volatile.Read(ref _queued);

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
                _failures, _lastError, _retryAt, _startedAt,
                _starts == 0 ? null : new DateTimeOffset(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero), _protocol, _ceilingRestart, _memoryBytes, _cpuPercent);
        }
    }

    public void ReleaseSession(string sessionId)
    {
        string[] orphaned;
        lock (_gate)
        {
            _sessions.Remove(sessionId);
            orphaned = [.. _subscriptions.Where(s => s.Value.Contains(sessionId)).Select(s => s.Key)];
        }

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
            _failures = 0;
            _retryAt = null;
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
        _protocols?.Forget(Model);
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
        var meta = lease is { } l ? new JsonObject { ["progressToken"] = l.Token } : null;
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
    /// updates go to every subscribed session. Subscriptions of one instance change one at a time (a joiner never
    /// counts on a subscribe that then fails), and an instance with subscriptions is not stopped for being idle.
    /// </summary>
    public async Task<Outcome<bool>> SubscribeAsync(string sessionId, string uri, CancellationToken ct)
    {
        await _subscriptionGate.WaitAsync(ct);
        try
        {
            lock (_gate)
            {
                if (_subscriptions.TryGetValue(uri, out var known) && known.Count > 0)
                {
                    known.Add(sessionId);
                    return true;
                }
            }

            var outcome = await RequestAsync(sessionId, retryable: true, async (client, token) =>
            {
                await SubscribeAsync(client, uri, token);
                return true;
            }, ct);
            if (outcome.Ok)
            {
                lock (_gate)
                {
                    _subscriptions[uri] = new HashSet<string>(StringComparer.Ordinal) { sessionId };
                }
            }

            return outcome;
        }
        finally
        {
            _subscriptionGate.Release();
        }
    }

    /// <summary>Ends a session's subscription; the last one out unsubscribes upstream (when the instance still runs).</summary>
    public async Task<Outcome<bool>> UnsubscribeAsync(string sessionId, string uri, CancellationToken ct)
    {
        await _subscriptionGate.WaitAsync(ct);
        try
        {
            if (!Unsubscribed(sessionId, uri) || Running() is null)
            {
                return true;
            }

            return await RequestAsync(sessionId, retryable: true, async (client, token) =>
            {
                await UnsubscribeAsync(client, uri, token);
                return true;
            }, ct);
        }
        finally
        {
            _subscriptionGate.Release();
        }
    }

    /// <summary>A session has ended: its subscriptions go, and those nobody else holds are ended upstream (best effort).</summary>
    private async Task DropSubscriptionsAsync(string sessionId, string[] uris)
    {
        await _subscriptionGate.WaitAsync();
        try
        {
            foreach (var uri in uris)
            {
                if (Unsubscribed(sessionId, uri) && Running() is { } instance)
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
            }
        }
        finally
        {
            _subscriptionGate.Release();
        }
    }

    /// <summary>A new instance knows nothing of the last one's subscriptions: subscribe it to every URI someone still holds.</summary>
    private async Task ResubscribeAsync(Instance instance)
    {
        string[] uris;
        lock (_gate)
        {
            uris = [.. _subscriptions.Keys];
        }

        if (Eras.UpstreamListen.Applies(instance.Client))
        {
            // Its list changes too come only on a listen stream: one is open from its start.
            try
            {
                using var cts = new CancellationTokenSource(Model.CallTimeout);
                await _listen.ListenAsync(instance.Client, uris, cts.Token);
            }
            catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
            {
                LogResubscribeFailed(Model.Name, ex.GetType().Name);
            }

            return;
        }

        foreach (var uri in uris)
        {
            try
            {
                using var cts = new CancellationTokenSource(Model.CallTimeout);
                await instance.Client.SubscribeToResourceAsync(uri, cancellationToken: cts.Token);
            }
            catch (Exception ex) when (ex is McpException or IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
            {
                LogResubscribeFailed(Model.Name, ex.GetType().Name);
            }
        }
    }

    /// <summary>
    /// Subscribes the instance to a resource: by <c>resources/subscribe</c>, or on an upstream of the 2026-07-28 revision
    /// by its listen stream, reopened for every URI held and this one (<see cref="Eras.UpstreamListen"/>).
    /// </summary>
    private async Task SubscribeAsync(McpClient client, string uri, CancellationToken ct)
    {
        if (!Eras.UpstreamListen.Applies(client))
        {
            await client.SubscribeToResourceAsync(uri, cancellationToken: ct);
            return;
        }

        string[] uris;
        lock (_gate)
        {
            uris = [.. _subscriptions.Keys.Append(uri).Distinct(StringComparer.Ordinal)];
        }

        if (!(await _listen.ListenAsync(client, uris, ct)).Contains(uri, StringComparer.Ordinal))
        {
            throw new McpProtocolException($"upstream '{Model.Name}' did not grant a subscription to {uri}", McpErrorCode.InvalidParams);
        }
    }

    /// <summary>Ends the instance's subscription to a resource nobody holds any more (see <see cref="SubscribeAsync(McpClient, string, CancellationToken)"/>).</summary>
    private async Task UnsubscribeAsync(McpClient client, string uri, CancellationToken ct)
    {
        if (!Eras.UpstreamListen.Applies(client))
        {
            await client.UnsubscribeFromResourceAsync(uri, cancellationToken: ct);
            return;
        }

        string[] uris;
        lock (_gate)
        {
            uris = [.. _subscriptions.Keys];
        }

        await _listen.ListenAsync(client, uris, ct);
    }

    /// <summary>Removes a session's subscription; true when nobody is subscribed to the URI any more.</summary>
    private bool Unsubscribed(string sessionId, string uri)
    {
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(uri, out var subscribers) || !subscribers.Remove(sessionId))
            {
                return false;
            }

            if (subscribers.Count == 0)
            {
                _subscriptions.Remove(uri);
                return true;
            }

            return false;
        }
    }

    /// <summary>Sends a resource update to the sessions subscribed to its URI, each under the URI it knows it by.</summary>
    private async ValueTask RelayResourceUpdatedAsync(JsonObject parameters)
    {
        if (parameters["uri"]?.GetValueKind() != JsonValueKind.String || _peers is null)
        {
            return;
        }

        var uri = parameters["uri"]!.GetValue<string>();
        string[] subscribers;
        lock (_gate)
        {
            subscribers = _subscriptions.TryGetValue(uri, out var set) ? [.. set] : [];
        }

        foreach (var peer in subscribers.Select(_peers.Find).OfType<ClientPeer>())
        {
            var relayed = (JsonObject)parameters.DeepClone();
            relayed["uri"] = ResourceNames.Expose(peer.Profile, Model, uri);
            (relayed["_meta"] as JsonObject)?.Remove(MetaKeys.SubscriptionId); // the broker's listen stream upstream, not the client's
            await peer.NotifyAsync(NotificationMethods.ResourceUpdatedNotification, relayed);
        }
    }

    /// <summary>Tells the sessions that see this upstream (or the one that owns it) that its resources or prompts changed.</summary>
    private async ValueTask RelayListChangedAsync(string method)
    {
        var peers = _owner is not null ? [.. _peers?.Find(_owner) is { } owner ? [owner] : Array.Empty<ClientPeer>()] : _peers?.Seeing(Model.Name).ToArray() ?? [];
        foreach (var peer in peers.Where(p => !p.Profile.CompactToolsEnabled))
        {
            await peer.NotifyAsync(method, null);
        }
    }

    private async Task<Outcome<T>> RunAsync<T>(string? sessionId, TimeSpan timeout, bool retryable, Func<McpClient, CancellationToken, Task<T>> action, CancellationToken ct,
        bool passErrors = false)
    {
        Interlocked.Increment(ref _inFlight);
        Touch();
        var slot = false;
        var entered = false;
        try
        {

            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeoutCts.CancelAfter(timeout);
            if (_slots is not null)
            {
                if (_slots.CurrentCount == 0 && Volatile.Read(ref _queued) >= Model.MaxQueue)
                {
                    return new BrokerError(BrokerErrorCode.UpstreamBusy,
                        $"upstream '{Model.Name}' already has {Model.MaxConcurrency} request(s) running and {Model.MaxQueue} waiting",
                        $"retry shortly, or raise upstreams.{Model.Name}.max_concurrency / max_queue");
                }

                Interlocked.Increment(ref _queued);
                try
                {
                    await _slots.WaitAsync(timeoutCts.Token);
                    slot = true;
                }
                catch (OperationCanceledException)
                {
                    return ct.IsCancellationRequested ? Cancelled() : TimedOut(timeout, "waiting for a free slot");
                }
                finally
                {
                    Interlocked.Decrement(ref _queued);
                }
            }

            // A request waiting for a slot is not yet one the upstream could be asking about.
            if (sessionId is not null)
            {
                EnterCaller(sessionId);
                entered = true;
            }

            var started = await GetInstanceAsync(ct);
            if (!started.Ok)
            {
                return started.Error!;
            }

            var instance = started.Value!;
            var renewed = false;

            // Moves the request to the current (or a new) instance; the error when there is none to move to.
            async Task<BrokerError?> ReconnectAsync()
            {
                var again = await GetInstanceAsync(timeoutCts.Token);
                if (again.Ok)
                {
                    instance = again.Value!;
                    return null;
                }

                return ct.IsCancellationRequested ? Cancelled() : timeoutCts.IsCancellationRequested ? TimedOut(timeout, "reconnecting") : again.Error!;
            }

            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    // Linked to the instance's end, so a request in flight fails the moment its process exits (or its
                    // HTTP session ends), whatever the SDK client is still waiting for.
                    using var requestCts = CancellationTokenSource.CreateLinkedTokenSource(timeoutCts.Token, instance.Dead);
                    var result = await action(instance.Client, requestCts.Token);
                    RecordSuccess();
                    return result;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return Cancelled();
                }
                catch (McpProtocolException ex)
                {
                    RecordSuccess();
                    if (passErrors)
                    {
                        // The SDK prefixes what the server said; the client's own SDK prefixes it again.
                        const string sdkPrefix = "Request failed (remote): ";
                        var said = ex.Message.StartsWith(sdkPrefix, StringComparison.Ordinal) ? ex.Message[sdkPrefix.Length..] : ex.Message;
                        throw new McpProtocolException(SecretMask.Mask(said), ex.ErrorCode);
                    }

                    return new BrokerError(BrokerErrorCode.UpstreamError, $"upstream '{Model.Name}' answered with an error: {SecretMask.Mask(ex.Message)}",
                        "check the arguments against describe_tool's input schema");
                }
                catch (Exception ex) when (instance.Remote && RemoteFailure.StatusCode(ex) is { } status && RemoteFailure.Retryable(status))
                {
                    if (!retryable || attempt > RemoteFailure.Retries)
                    {
                        return new BrokerError(BrokerErrorCode.UpstreamError,
                            $"upstream '{Model.Name}' answered HTTP {(int)status} ({status})" + (retryable ? $" {attempt} times in a row" : "; the call was not retried because the tool is not marked idempotent"),
                            retryable ? "the server is overloaded or failing; retry later" : $"retry if the call is safe to repeat; mark it with upstreams.{Model.Name}.tools.TOOL.idempotent: true to let the broker retry");
                    }

                    LogRetrying(Model.Name, (int)status, attempt);
                    try
                    {
                        await Task.Delay(RemoteFailure.Backoff(attempt), _time, timeoutCts.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return ct.IsCancellationRequested ? Cancelled() : TimedOut(timeout, "answering (retrying after HTTP errors)");
                    }

                    // The connection ended while we waited: retry on the next one.
                    if (instance.Ended.IsCompleted && await ReconnectAsync() is { } failed)
                    {
                        return failed;
                    }
                }
                catch (Exception ex)
                {
                    // A dead process fails every pending request; give its exit (and last stderr lines) a moment to land.
                    // So too an HTTP session the server forgot: the SDK ends the client when the 404 arrives, and the
                    // request may fail with that end (a cancellation) before, or instead of, its own HTTP 404.
                    var ended = await instance.EndedWithin(TimeSpan.FromSeconds(1));
                    var ownExpiry = RemoteFailure.SessionExpired(ex);
                    if (instance.Remote && (ownExpiry || (ended && instance.SessionExpired)))
                    {
                        if (!renewed && (ownExpiry || retryable))
                        {
                            // Start a new session and retry once (the request that got the 404 never ran; others in
                            // flight then may have, so they are retried only when idempotent).
                            renewed = true;
                            LogSessionExpired(Model.Name);
                            await StopInstanceAsync(instance, null);
                            if (await ReconnectAsync() is { } failed)
                            {
                                return failed;
                            }

                            continue;
                        }

                        if (renewed)
                        {
                            return await NewSessionForgottenAsync(instance);
                        }
                    }

                    if (ended)
                    {
                        return new BrokerError(BrokerErrorCode.UpstreamCrashed,
                            $"upstream '{Model.Name}' {(instance.Remote ? "lost its connection" : "crashed")} during the request: {instance.Describe()}",
                            "the next request starts it again; 'broker.status' shows its state");
                    }

                    if (ex is OperationCanceledException)
                    {
                        // The SDK has sent notifications/cancelled. A shared upstream serving others is kept unless it is hung.
                        _ = CheckHealthAsync(instance);
                        return TimedOut(timeout, "answering");
                    }

                    return new BrokerError(BrokerErrorCode.UpstreamError, $"the request to upstream '{Model.Name}' failed: {SecretMask.Mask(RemoteFailure.Explain(ex, Model))}",
                        "'broker.status' shows the upstream's state");
                }
            }
        }
        finally
        {
            if (slot)
            {
                _slots!.Release();
            }

            Touch();
            if (entered)
            {
                ExitCaller(sessionId!);
            }

            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>A session the server forgets at once is a failure (so a server that always does this opens the circuit).</summary>
    private async Task<BrokerError> NewSessionForgottenAsync(Instance instance)
    {
        const string why = "the server ended a new session at once (HTTP 404 again)";
        if (!await StopInstanceAsync(instance, why))
        {
            lock (_gate)
            {
                RecordFailure(why); // its end was noticed first and taken out of service without counting
            }
        }

        return new BrokerError(BrokerErrorCode.UpstreamError, $"upstream '{Model.Name}': {why}",
            $"check upstreams.{Model.Name}.url, and whether the server keeps sessions (a load balancer without session affinity?)");
    }

    private static BrokerError Cancelled() => new(BrokerErrorCode.Cancelled, "the request was cancelled", "");

    private BrokerError TimedOut(TimeSpan timeout, string doing) => new(BrokerErrorCode.UpstreamTimeout,
        $"upstream '{Model.Name}' did not finish {doing} within {new Duration(timeout)}; the request was cancelled upstream",
        $"raise upstreams.{Model.Name}.timeouts.call (or timeouts.tools.TOOL), or retry with a smaller request");

    private void Touch() => Interlocked.Exchange(ref _lastUsedTicks, _time.GetUtcNow().UtcTicks);

    private void RecordSuccess()
    {
        lock (_gate)
        {
            _failures = 0;
            _retryAt = null;
        }
    }

    /// <summary>After a timeout: an upstream that no longer answers ping is hung, and is restarted on the next request.</summary>
    private async Task CheckHealthAsync(Instance instance)
    {
        try
        {
            using var cts = new CancellationTokenSource(s_pingTimeout);
            try
            {
                await instance.Client.PingAsync(cancellationToken: cts.Token);
            }
            catch (McpProtocolException ex) when (ex.ErrorCode == McpErrorCode.MethodNotFound)
            {
                // Protocol 2026-07-28 has no ping (SDK 2.4 refuses it as an unknown method): a listing answered is as good.
                await instance.Client.ListToolsAsync(cancellationToken: cts.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or McpException or IOException or ObjectDisposedException)
        {
            LogHung(Model.Name, instance.Label);
            await StopInstanceAsync(instance, $"did not answer ping within {new Duration(s_pingTimeout)} after a timed-out call; restarted on the next request");
        }
    }

    private async Task<Outcome<Instance>> GetInstanceAsync(CancellationToken ct)
    {
        // An instance whose process has exited is not used, even if its exit watcher has not run yet.
        if (_current is { IsCompletedSuccessfully: true } known && known.Result.Ended.IsCompleted && Forget(known.Result))
        {
            _ = RetireAsync(known.Result);
        }

        Task<Instance> current;
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested)
            {
                return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{Model.Name}' is stopping", "the daemon is shutting down");
            }

            if (_current is null)
            {
                var now = _time.GetUtcNow();
                if (_retryAt is { } retryAt && now < retryAt)
                {
                    return _state == UpstreamStateKind.CircuitOpen
                        ? new BrokerError(BrokerErrorCode.UpstreamUnavailable,
                            $"upstream '{Model.Name}' failed {_failures} times in a row and is paused until {retryAt:HH:mm:ss} UTC; last error: {_lastError}",
                            $"fix the cause, then run 'mcp-broker upstream restart {Model.Name}' (or wait for the retry)")
                        : new BrokerError(BrokerErrorCode.UpstreamUnavailable,
                            $"upstream '{Model.Name}' failed and restarts at {retryAt:HH:mm:ss.f} UTC (backoff after {_failures} failures); last error: {_lastError}",
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
        catch (Exception ex) when (ex is UpstreamStartException or OperationCanceledException or ObjectDisposedException)
        {
            return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{Model.Name}' could not start: {ex.Message}",
                Model.Remote is null
                    ? $"check upstreams.{Model.Name} (command, args, env_from, env_files); 'broker.status' shows the last error"
                    : $"check upstreams.{Model.Name} (url, headers, env_from, env_files{(Model.Remote.OAuth is null ? "" : ", oauth")}); 'broker.status' shows the last error");
        }
    }

    /// <summary>
    /// The revision to start with: the one a session-era server answered last time (so <c>initialize</c> is sent at once,
    /// without a <c>server/discover</c> probe it may ignore until the probe times out), or null to negotiate.
    /// </summary>
    private string? RememberedSessionRevision() =>
        _protocols?.Recall(Model) is { } known && !ProtocolMemory.IsStateless(known) ? known : null;

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
        var offered = OfferedCapabilities();
        return new()
        {
        ClientInfo = new Implementation { Name = "mcp-broker", Version = BrokerInfo.Version },
        ProtocolVersion = revision,
        DiscoverProbeTimeout = _protocol is { } known && ProtocolMemory.IsStateless(known) ? Model.StartTimeout : s_discoverProbeTimeout,
        InitializationTimeout = Model.StartTimeout,
        Capabilities = offered,
        Handlers = ClientRequestHandlers(new McpClientHandlers
        {
            NotificationHandlers =
            [
                new(NotificationMethods.ToolListChangedNotification, (_, _) =>
                {
                    _toolsChanged?.Invoke(this, ToolsChange.ListChanged);
                    return ValueTask.CompletedTask;
                }),
                // Over stdio logs are read in order by the output tap instead (see StartProcessAsync).
                new(LogMethod, (notification, _) =>
                    Model.Remote is not null && notification.Params is JsonObject p ? RelayLogAsync(p) : ValueTask.CompletedTask),
                new(NotificationMethods.ResourceUpdatedNotification, (notification, _) =>
                    notification.Params is JsonObject p ? RelayResourceUpdatedAsync(p) : ValueTask.CompletedTask),
                new(NotificationMethods.ResourceListChangedNotification, (_, _) => RelayListChangedAsync(NotificationMethods.ResourceListChangedNotification)),
                new(NotificationMethods.PromptListChangedNotification, (_, _) => RelayListChangedAsync(NotificationMethods.PromptListChangedNotification)),
            ],
        }, offered),
        };
    }

    /// <summary>
    /// The client session an upstream's request or log message belongs to: the one session with requests in flight on
    /// this instance, or the session a per-session instance belongs to. With requests of several sessions in flight it
    /// cannot be attributed (neither a log line nor a server-to-client request says which request caused it), and goes
    /// to none: sending it to all would leak between profiles.
    /// </summary>
    private (ClientPeer? Peer, string? Why) Caller()
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
                    ? $"requests of {_callers.Count} client sessions are in flight on upstream '{Model.Name}', so the broker cannot tell which one should answer"
                    : $"no client session has a request in flight on upstream '{Model.Name}'");
            }
        }

        return _peers?.Find(id) is { } peer ? (peer, null) : (null, $"the client session that used upstream '{Model.Name}' has gone");
    }

    /// <summary>An upstream's log message goes to the session that caused it (see <see cref="Caller"/>), at the level it asked for.</summary>
    private async ValueTask RelayLogAsync(JsonObject parameters)
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
            LogRefusedClientRequest(Model.Name, method);
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
    private McpClientHandlers ClientRequestHandlers(McpClientHandlers handlers, ClientCapabilities offered)
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
    private ClientCapabilities OfferedCapabilities() => new()
    {
        Sampling = new SamplingCapability(),
        Roots = _owner is null ? null : new RootsCapability { ListChanged = true },
        Elicitation = new ElicitationCapability { Form = new(), Url = new() },
    };

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

    /// <summary>Counts a request of a session in flight on this upstream (see <see cref="Caller"/>).</summary>
    private void EnterCaller(string sessionId)
    {
        lock (_gate)
        {
            _sessions.Add(sessionId);
            _callers[sessionId] = _callers.GetValueOrDefault(sessionId) + 1;
        }
    }

    private void ExitCaller(string sessionId)
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

    /// <summary>Counts a started instance as running (a restart when it is not the first).</summary>
    private Instance Started(Instance instance)
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
        if (instance.Client.NegotiatedProtocolVersion is { Length: > 0 } negotiated)
        {
            _protocol = negotiated;
            _protocols?.Remember(Model, negotiated,
                JsonSerializer.SerializeToNode(instance.Client.ServerCapabilities, McpJsonUtilities.DefaultOptions.GetTypeInfo<ServerCapabilities>()),
                instance.Client.ServerInstructions);
        }

        _ = WatchEndAsync(instance);
        _ = ResourceCeiling.WatchAsync(Model.Limits, _time, instance.Pid, instance.Marker, () => Volatile.Read(ref _inFlight), Model.CallTimeout,
            reason => RestartOverCeilingAsync(instance, reason), (memory, cpu) => (_memoryBytes, _cpuPercent) = (memory, cpu), instance.Dead);
        _ = ResubscribeAsync(instance);
        _toolsChanged?.Invoke(this, ToolsChange.Started);
        return instance;
    }

    private Task<Instance> StartAsync(CancellationToken ct) => Model.Remote is null ? StartProcessAsync(ct) : ConnectAsync(Model.Remote, ct);

    private async Task<Instance> ConnectAsync(RemoteModel remote, CancellationToken ct)
    {
        await Task.Yield();
        using var startCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            var resolved = SecretFile.ResolveAll(Model);
            LogConnecting(Model.Name, remote.DisplayUrl);
            startCts.CancelAfter(Model.StartTimeout);
            var oauth = OAuthOptions(remote);
            var revision = RememberedSessionRevision();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var transport = RemoteConnection.CreateTransport(Model, remote, resolved, oauth, _loggerFactory);
                    var client = await McpClient.CreateAsync(transport, ClientOptions(revision), _loggerFactory, startCts.Token);
                    return Started(new Instance(client, null, remote.DisplayUrl));
                }
                catch (Exception ex) when (revision is not null && RevisionRefused(ex))
                {
                    revision = Reprobe(revision);
                }
                catch (Exception ex) when (RemoteFailure.StatusCode(ex) is { } status && RemoteFailure.Retryable(status) && attempt <= RemoteFailure.Retries)
                {
                    // Overloaded or restarting: a connection is as safe to retry as tools/list.
                    LogRetrying(Model.Name, (int)status, attempt);
                    await Task.Delay(RemoteFailure.Backoff(attempt), _time, startCts.Token);
                }
            }
        }
        catch (Exception ex)
        {
            var reason = ex switch
            {
                OperationCanceledException when ct.IsCancellationRequested => "the daemon is stopping",
                OperationCanceledException or TimeoutException when startCts.IsCancellationRequested || ex is TimeoutException =>
                    $"no answer to initialize from {remote.DisplayUrl} within {new Duration(Model.StartTimeout)}",
                OperationCanceledException => $"the connection to {remote.DisplayUrl} ended during initialize (a server that forgets the session at once does this)",
                _ when UnspokenRevision(ex) is { } why => why,
                _ => RemoteFailure.Explain(ex, Model),
            };
            reason = SecretMask.Mask(reason);
            lock (_gate)
            {
                _current = null;
                RecordFailure(reason);
            }

            LogStartFailed(Model.Name, ex.GetType().Name);
            throw new UpstreamStartException(reason);
        }
    }

    /// <summary>The daemon never logs in interactively: without stored tokens it says to run auth login.</summary>
    private ModelContextProtocol.Authentication.ClientOAuthOptions? OAuthOptions(RemoteModel remote)
    {
        if (remote.OAuth is not { } oauth)
        {
            return null;
        }

        if (!File.Exists(oauth.TokenFile))
        {
            throw new UpstreamStartException($"no OAuth tokens for upstream '{Model.Name}'; run: mcp-broker auth login {Model.Name}");
        }

        return OAuthSupport.DaemonOptions(Model, oauth, _time);
    }

    private async Task<Instance> StartProcessAsync(CancellationToken ct)
    {
        await Task.Yield();
        UpstreamProcess? process = null;
        try
        {
            var (environment, args) = BuildEnvironment();
            Platform.PrivateFiles.CreateDirectory(Model.WorkingDir);
            using var startCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            startCts.CancelAfter(Model.StartTimeout);
            var revision = RememberedSessionRevision();
            while (true)
            {
                process = UpstreamProcess.Start(Model.Command, args, Model.WorkingDir, environment, _stderrLog);
                _records.TryAdd(Model.Name, process.Pid, process.OwnGroup, process.Marker, why => LogRecordUnwritten(Model.Name, why));
                LogStarting(Model.Name, process.Pid);
                var transport = new StreamClientTransport(new Platform.OneWritePerMessage(process.Input), ProgressRelay.Tap(new Platform.LineLimitStream(process.Output, Model.MaxMessageBytes, LogDroppedOversized), RelayLogAsync), _loggerFactory);
                var connect = McpClient.CreateAsync(transport, ClientOptions(revision), _loggerFactory, startCts.Token);
                if (await Task.WhenAny(connect, process.Exited) != connect)
                {
                    await startCts.CancelAsync();
                    _ = connect.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    throw new UpstreamStartException($"the process {process.Describe()} before answering initialize");
                }

                try
                {
                    var client = await connect;
                    return Started(new Instance(client, process, $"pid {process.Pid}"));
                }
                catch (Exception ex) when (revision is not null && RevisionRefused(ex))
                {
                    // The remembered revision was refused: this process is done with; a fresh one negotiates.
                    await process.DisposeAsync();
                    _records.Remove(process.Pid);
                    process = null;
                    revision = Reprobe(revision);
                }
            }
        }

        catch (Exception ex)
        {
            // A process that died during start fails initialize first; wait a moment for its exit code and stderr.
            if (process is not null && ex is not UpstreamStartException)
            {
                await process.ExitedWithin(TimeSpan.FromSeconds(1));
            }

            var reason = ex switch
            {
                UpstreamStartException => ex.Message,
                OperationCanceledException when ct.IsCancellationRequested => "the daemon is stopping",
                OperationCanceledException or TimeoutException => $"no answer to initialize within {new Duration(Model.StartTimeout)}" + (process is null ? "" : $"; the process {process.Describe()}"),
                _ when UnspokenRevision(ex) is { } why => why,
                _ => process is { Exited.IsCompleted: true } ? $"the process {process.Describe()}" : ex.Message,
            };
            if (process is not null)
            {
                await process.DisposeAsync();
                _records.Remove(process.Pid);
            }

            lock (_gate)
            {
                _current = null;
                RecordFailure(reason);
            }

            LogStartFailed(Model.Name, ex.GetType().Name);
            throw new UpstreamStartException(reason);
        }
    }

    /// <summary>
    /// Whether a start failed because the upstream would not speak the revision it spoke last time (it was upgraded, or
    /// replaced): the SDK refuses an <c>initialize</c> answer that differs from a set version with an
    /// <see cref="McpException"/> saying "protocol version mismatch", and a server that does not support a set version
    /// with one saying it "does not support the requested protocol version". The SDK gives no code for either, so its
    /// message is matched here, in one place.
    /// </summary>
    private static bool RevisionRefused(Exception ex) =>
        ex is McpException { Message: var message }
        && (message.Contains("protocol version mismatch", StringComparison.OrdinalIgnoreCase)
            || message.Contains("does not support the requested protocol version", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The reason for an upstream that answered <c>initialize</c> with a revision the SDK does not speak, naming both
    /// sides; null for any other failure. The SDK says "Server protocol version mismatch. Expected X, got Y".
    /// </summary>
    private static string? UnspokenRevision(Exception ex) =>
        ex is McpException { Message: var message } && s_mismatch.Match(message) is { Success: true } m
            ? $"it answered initialize with protocol version '{m.Groups["got"].Value}', which the broker does not speak "
              + $"(it offered {m.Groups["offered"].Value}, and speaks {string.Join(", ", SpokenRevisions)}); update the server, or ask its authors which revision it implements"
            : null;

    private static readonly System.Text.RegularExpressions.Regex s_mismatch =
        new(@"protocol version mismatch\. Expected (?<offered>\S+), got (?<got>[^\s,]+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    /// <summary>The revisions the MCP SDK (2.4) speaks to a server: the four of the session era and the stateless one.</summary>
    public static readonly string[] SpokenRevisions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", ProtocolMemory.StatelessRevision];

    /// <summary>Forgets the refused revision: the next connection negotiates (null). Returns that null.</summary>
    private string? Reprobe(string refused)
    {
        LogReprobing(Model.Name, refused);
        _protocols?.Forget(Model);
        _protocol = null;
        return null;
    }

    /// <summary>Counts a failure and decides when the next start may happen (call under the lock).</summary>
    private void RecordFailure(string reason)
    {
        _failures++;
        _lastError = reason;
        var now = _time.GetUtcNow();
        if (_failures >= Model.Restart.MaxAttempts)
        {
            _state = UpstreamStateKind.CircuitOpen;
            _retryAt = now + Model.Restart.Cooldown;
        }
        else
        {
            var delay = Model.Restart.DelayAfter(_failures);
            _state = delay > TimeSpan.Zero ? UpstreamStateKind.Backoff : UpstreamStateKind.Stopped;
            _retryAt = delay > TimeSpan.Zero ? now + delay : null;
        }
    }

    private async Task WatchEndAsync(Instance instance)
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
    private bool Forget(Instance instance)
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
    private async Task RetireAsync(Instance instance)
    {
        await instance.MarkDeadAsync();
        LogEnded(Model.Name, instance.Label, instance.Describe());
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
                if (Volatile.Read(ref _inFlight) == 0 && idleFor >= Model.IdleTimeout && !HasSubscriptions() && Running() is { } instance)
                {
                    await StopInstanceAsync(instance, null, onlyIfIdle: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private bool HasSubscriptions()
    {
        lock (_gate)
        {
            return _subscriptions.Count > 0;
        }
    }

    private Instance? Running()
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
    private async Task RestartOverCeilingAsync(Instance instance, string reason)
    {
        LogOverCeiling(Model.Name, instance.Label, reason);
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
    private async Task<bool> StopInstanceAsync(Instance instance, string? failure, bool onlyIfIdle = false, string? why = null)
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

        LogStopping(Model.Name, instance.Label, failure ?? why ?? (onlyIfIdle ? "idle" : "requested"));
        await DisposeInstanceAsync(instance);
        return true;
    }

    public ValueTask DisposeAsync() => StopAsync("daemon stopping");

    /// <summary>Stops for good (as <see cref="DisposeAsync"/>), logging <paramref name="reason"/> as why the instance stops.</summary>
    public async ValueTask StopAsync(string reason)
    {
        Task<Instance>? current;
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
                LogStopping(Model.Name, instance.Label, reason);
                await DisposeInstanceAsync(instance);
            }
            catch (Exception ex) when (ex is UpstreamStartException or OperationCanceledException)
            {
            }
        }

        _slots?.Dispose();
    }

    private async Task DisposeInstanceAsync(Instance instance)
    {
        await instance.DisposeAsync();
        if (instance.Pid is { } pid)
        {
            _records.Remove(pid);
        }
    }

    /// <summary>
    /// The child's environment, explicit: the SDK's safe set and a few locale/proxy/cache variables, as the daemon's
    /// environment has them (<see cref="DaemonEnvironment"/>: the same whichever client started the daemon), then the
    /// upstream's env, env_from and env_files (the secrets' values are masked from then on: <see cref="SecretMask"/>);
    /// and the arguments with the secrets they reference (<c>${KEY}</c>) filled in.
    /// </summary>
    private (Dictionary<string, string> Env, List<string> Args) BuildEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in StdioClientTransportOptions.GetDefaultEnvironmentVariables().Keys)
        {
            if (DaemonEnvironment.Get(key) is { } value)
            {
                env[key] = value;
            }
        }

        foreach (var name in s_inheritedVariables)
        {
            if (DaemonEnvironment.Get(name) is { } value)
            {
                env[name] = value;
            }
        }

        foreach (var (key, value) in Model.Env)
        {
            env[key] = value;
        }

        var resolved = SecretFile.ResolveAll(Model);
        foreach (var (key, value) in resolved)
        {
            env[key] = value;
        }

        return (env, SecretFile.ResolveArgs(Model.Args, resolved));
    }

    /// <summary>One live connection: an MCP client over a process's pipes (stdio) or over HTTP (no process).</summary>
    private sealed class Instance(McpClient client, UpstreamProcess? process, string label) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _dead = new();

        public McpClient Client => client;

        public bool Remote => process is null;

        public int? Pid => process?.Pid;

        /// <summary>The process's marker variable (<see cref="ProcessTree"/>); null for a remote instance.</summary>
        public string? Marker => process?.Marker;

        /// <summary>What logs name it by: "pid N" or the URL.</summary>
        public string Label => label;

        /// <summary>Completes when the process exits, or when the HTTP session or connection ends.</summary>
        public Task Ended { get; } = process?.Exited ?? client.Completion;

        public bool SessionExpired => process is null && client.Completion is { IsCompletedSuccessfully: true } c
            && c.Result is HttpClientCompletionDetails { HttpStatusCode: System.Net.HttpStatusCode.NotFound };

        /// <summary>Cancelled when the instance has ended.</summary>
        public CancellationToken Dead => _dead.Token;

        public Task MarkDeadAsync() => _dead.CancelAsync();

        public async Task<bool> EndedWithin(TimeSpan timeout)
        {
            try
            {
                await Ended.WaitAsync(timeout);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        /// <summary>How it ended (or that it runs), in words a user can act on; secrets masked.</summary>
        public string Describe()
        {
            if (process is not null)
            {
                return $"the process {process.Describe()}";
            }

            if (client.Completion is not { IsCompleted: true } completion)
            {
                return $"the connection to {label} is open";
            }

            var details = completion.IsCompletedSuccessfully ? completion.Result : null;
            var why = details switch
            {
                HttpClientCompletionDetails { HttpStatusCode: System.Net.HttpStatusCode.NotFound } => "the server ended the session (HTTP 404)",
                HttpClientCompletionDetails { HttpStatusCode: { } code } => $"HTTP {(int)code} ({code})",
                { Exception: { } ex } => ex.Message,
                _ => "closed",
            };
            return SecretMask.Mask($"the connection to {label} ended: {why}");
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await Client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (Exception)
            {
                // Whatever the client's shutdown threw, the process and its pipes must still be released.
            }
            finally
            {
                if (process is not null)
                {
                    await process.DisposeAsync();
                }
            }
        }
    }

    [LoggerMessage(EventId = 115, Level = LogLevel.Warning, Message = "Upstream {Name}: its process record could not be written ({Reason}); it runs, but a daemon killed with -9 would leave it unreaped")]
    private partial void LogRecordUnwritten(string name, string reason);

    [LoggerMessage(EventId = 114, Level = LogLevel.Warning, Message = "Upstream {Name} ({Label}): {Reason}; restarting it")]
    private partial void LogOverCeiling(string name, string label, string reason);

    [LoggerMessage(EventId = 113, Level = LogLevel.Information, Message = "Upstream {Name} no longer answers protocol {Revision}, which it spoke last time; negotiating afresh")]
    private partial void LogReprobing(string name, string revision);

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Starting upstream {Name} (pid {Pid})")]
    private partial void LogStarting(string name, int pid);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Upstream {Name} failed to start ({Kind}); status shows the reason")]
    private partial void LogStartFailed(string name, string kind);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Upstream {Name} ({Label}) ended: {How}")]
    private partial void LogEnded(string name, string label, string how);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Stopping upstream {Name} ({Label}): {Reason}")]
    private partial void LogStopping(string name, string label, string reason);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Upstream {Name} ({Label}) does not answer ping after a timeout; stopping it")]
    private partial void LogHung(string name, string label);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "Connecting to upstream {Name} at {Url}")]
    private partial void LogConnecting(string name, string url);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Upstream {Name}: the server ended the HTTP session (404); starting a new one and retrying once")]
    private partial void LogSessionExpired(string name);

    [LoggerMessage(EventId = 109, Level = LogLevel.Warning, Message = "Upstream {Name}: could not renew a resource subscription after a restart ({Kind})")]
    private partial void LogResubscribeFailed(string name, string kind);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "Upstream {Name} sent {Method}, and no client session could answer it; refused")]
    private partial void LogRefusedClientRequest(string name, string method);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Upstream {Name} answered HTTP {Status}; retry {Attempt}")]
    private partial void LogRetrying(string name, int status, int attempt);

    private void LogDroppedOversized(string what) => LogDroppedOversized(Model.Name, what, Model.MaxMessageBytes);

    [LoggerMessage(EventId = 118, Level = LogLevel.Warning, Message = "Upstream {Name} wrote {What} longer than {Limit} bytes (broker.max_message_bytes); dropped")]
    private partial void LogDroppedOversized(string name, string what, int limit);
}
