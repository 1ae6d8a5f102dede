using System.Collections.Concurrent;
using System.Collections.Frozen;
using McpBroker.Config;
using Microsoft.Extensions.Logging;

namespace McpBroker.Upstreams;

/// <summary>The supervisor a request runs on; disposing it stops a per-call instance.</summary>
internal readonly struct UpstreamLease(UpstreamSupervisor supervisor, bool owned) : IAsyncDisposable
{
    public UpstreamSupervisor Supervisor => supervisor;

    public ValueTask DisposeAsync() => owned ? supervisor.StopAsync("its call ended (per_call)") : ValueTask.CompletedTask;
}

/// <summary>
/// Every enabled upstream, by mode: one supervisor for a shared upstream, one per client session for a per-session
/// upstream (stopped when the session ends), a fresh one per request for a per-call upstream. Stops them all, in
/// parallel, when disposed.
/// </summary>
internal sealed class UpstreamRegistry : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly Lock _applyGate = new();
    private FrozenDictionary<string, UpstreamModel> _models;
    private FrozenDictionary<string, UpstreamSupervisor> _shared;
    private readonly ConcurrentDictionary<(string Upstream, string Session), UpstreamSupervisor> _perSession = new();
    private readonly ConcurrentDictionary<Task, byte> _stopping = new();
    private readonly IClientSessions? _peers;
    private readonly UpstreamLogs? _logs;

    public UpstreamRegistry(BrokerModel model, ILoggerFactory loggerFactory, TimeProvider time, ProcessRecords records, IClientSessions? peers = null,
        UpstreamLogs? logs = null)
    {
        _loggerFactory = loggerFactory;
        _peers = peers;
        _logs = logs;
        _time = time;
        Records = records;
        Protocols = new ProtocolMemory(Path.Combine(model.Runtime.CacheDir, "protocols"), time);
        _models = model.Upstreams.Where(u => u.Mode != UpstreamMode.Disabled).ToFrozenDictionary(u => u.Name, StringComparer.Ordinal);
        _shared = _models.Values.Where(u => u.Mode == UpstreamMode.Shared)
            .ToFrozenDictionary(u => u.Name, u => New(u), StringComparer.Ordinal);
    }

    /// <summary>Raised (on the supervisor's thread) when an instance starts or announces that its tools changed.</summary>
    public event Action<UpstreamSupervisor, ToolsChange>? ToolsMayHaveChanged;

    public ProcessRecords Records { get; }

    /// <summary>The protocol revision each upstream endpoint spoke last, kept across daemon restarts.</summary>
    public ProtocolMemory Protocols { get; }

    public IEnumerable<UpstreamModel> Models => _models.Values;

    public UpstreamModel? FindModel(string name) => _models.GetValueOrDefault(name);

    /// <summary>The supervisor for a request of <paramref name="sessionId"/> to <paramref name="upstream"/>, or null if unknown.</summary>
    public UpstreamLease? Acquire(string upstream, string? sessionId)
    {
        // One read of each map: a reload replaces them, and a name may come or go between two reads.
        var (models, shared) = (_models, _shared);
        if (!models.TryGetValue(upstream, out var model))
        {
            return null;
        }

        return model.Mode switch
        {
            UpstreamMode.Shared => shared.TryGetValue(upstream, out var supervisor) ? new UpstreamLease(supervisor, owned: false) : null,
            UpstreamMode.PerSession when sessionId is not null => PerSession(upstream, sessionId) is { } own ? new UpstreamLease(own, owned: false) : null,
            _ => new UpstreamLease(New(model, sessionId), owned: true),
        };
    }

    /// <summary>
    /// The session's own instance of a per-session upstream, made under the same gate a reload replaces the models
    /// and retires per-session instances under: one made from a model a concurrent reload just replaced would live,
    /// with the old settings, until the session ends.
    /// </summary>
    private UpstreamSupervisor? PerSession(string upstream, string sessionId)
    {
        if (_perSession.TryGetValue((upstream, sessionId), out var existing))
        {
            return existing; // a reload retires it under the gate, like a shared one
        }

        lock (_applyGate)
        {
            return _models.TryGetValue(upstream, out var model) && model.Mode == UpstreamMode.PerSession
                ? _perSession.GetOrAdd((upstream, sessionId), key => New(model, key.Session))
                : null;
        }
    }

    /// <summary>The state of the instance a session would use (per-call upstreams have none between calls).</summary>
    public UpstreamState Snapshot(string upstream, string? sessionId)
    {
        var supervisor = _models.GetValueOrDefault(upstream)?.Mode switch
        {
            UpstreamMode.Shared => _shared.GetValueOrDefault(upstream),
            UpstreamMode.PerSession when sessionId is not null => _perSession.GetValueOrDefault((upstream, sessionId)),
            _ => null,
        };
        return supervisor?.Snapshot() ?? new UpstreamState(upstream, "stopped", null, 0, 0, 0, 0, null, null, null, null,
            _models.GetValueOrDefault(upstream) is { } model ? Protocols.Recall(model) : null);
    }

    /// <summary>The state of every instance of an upstream: the shared one, or one per session that used it.</summary>
    public IReadOnlyList<UpstreamState> States(string upstream) => _models.GetValueOrDefault(upstream)?.Mode switch
    {
        UpstreamMode.Shared => _shared.GetValueOrDefault(upstream) is { } shared ? [shared.Snapshot()] : [],
        _ => [.. _perSession.Where(p => p.Key.Upstream == upstream).Select(p => p.Value.Snapshot())],
    };

    /// <summary>Requests waiting for a slot on an upstream's instances (max_concurrency), across all sessions.</summary>
    public int Queued(string upstream) => _models.GetValueOrDefault(upstream)?.Mode switch
    {
        UpstreamMode.Shared => _shared.GetValueOrDefault(upstream)?.Queued ?? 0,
        _ => _perSession.Where(p => p.Key.Upstream == upstream).Sum(p => p.Value.Queued),
    };

    /// <summary>Running instances of an upstream across all sessions.</summary>
    public int Instances(string upstream) => States(upstream).Count(s => s.State == "running");

    /// <summary>Closes the circuit of every instance of an upstream and stops them; false for an unknown name.</summary>
    public async Task<bool> RestartAsync(string upstream)
    {
        if (!_models.ContainsKey(upstream))
        {
            return false;
        }

        var supervisors = _perSession.Where(p => p.Key.Upstream == upstream).Select(p => p.Value)
            .Concat(_shared.TryGetValue(upstream, out var shared) ? [shared] : []);
        await Task.WhenAll(supervisors.Select(s => s.RestartAsync()));
        return true;
    }

    /// <summary>What an upstream declared when the instance a session would use last started (null: not known yet).</summary>
    public ModelContextProtocol.Protocol.ServerCapabilities? KnownCapabilities(string upstream, string? sessionId) => _models.GetValueOrDefault(upstream)?.Mode switch
    {
        UpstreamMode.Shared => _shared.GetValueOrDefault(upstream)?.KnownCapabilities,
        UpstreamMode.PerSession when sessionId is not null => _perSession.GetValueOrDefault((upstream, sessionId))?.KnownCapabilities,
        _ => null,
    };

    /// <summary>
    /// What <paramref name="upstream"/> declared at its last start (remembered across daemon restarts); when it never
    /// started, it is started now (the instance <paramref name="sessionId"/> would use) to learn it. Null when it cannot
    /// start or is unknown.
    /// </summary>
    public async Task<RememberedProtocol?> DeclarationAsync(string upstream, string? sessionId, CancellationToken ct)
    {
        if (FindModel(upstream) is not { } model)
        {
            return null;
        }

        if (Protocols.Declared(model) is { Capabilities: not null } known)
        {
            return known;
        }

        if (Acquire(upstream, sessionId) is not { } lease)
        {
            return null;
        }

        await using (lease)
        {
            return await lease.Supervisor.EnsureStartedAsync(ct) is null ? Protocols.Declared(model) : null;
        }
    }

    /// <summary>Passes a client's notification to the upstreams that are its own (per-session).</summary>
    public Task ForwardToSessionAsync(string sessionId, string method) =>
        Task.WhenAll(_perSession.Where(p => p.Key.Session == sessionId).Select(p => p.Value.ForwardAsync(method)));

    /// <summary>
    /// Takes a new config in by difference: an upstream whose settings changed gets new supervisors (the old ones stop
    /// their instances; the next request starts one with the new settings), an added one becomes available, a removed
    /// one stops. Unchanged upstreams are not touched. Requests in flight on a changed or removed upstream fail.
    /// </summary>
    public async Task<RegistryChange> ApplyAsync(BrokerModel next)
    {
        var nextModels = next.Upstreams.Where(u => u.Mode != UpstreamMode.Disabled).ToFrozenDictionary(u => u.Name, StringComparer.Ordinal);
        var retired = new List<UpstreamSupervisor>();
        RegistryChange change;
        lock (_applyGate)
        {
            var old = _models;
            var changed = nextModels.Keys.Where(n => old.TryGetValue(n, out var o) && !Same(o, nextModels[n])).Order(StringComparer.Ordinal).ToList();
            var added = nextModels.Keys.Where(n => !old.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
            var removed = old.Keys.Where(n => !nextModels.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
            change = new RegistryChange(changed, added, removed);
            var gone = changed.Concat(removed).ToHashSet(StringComparer.Ordinal);
            var shared = _shared.Where(s => !gone.Contains(s.Key)).ToDictionary(StringComparer.Ordinal);
            retired.AddRange(_shared.Where(s => gone.Contains(s.Key)).Select(s => s.Value));
            foreach (var name in changed.Concat(added).Where(n => nextModels[n].Mode == UpstreamMode.Shared))
            {
                shared[name] = New(nextModels[name]);
            }

            foreach (var key in _perSession.Keys.Where(k => gone.Contains(k.Upstream)))
            {
                if (_perSession.TryRemove(key, out var supervisor))
                {
                    retired.Add(supervisor);
                }
            }

            _models = nextModels;
            _shared = shared.ToFrozenDictionary(StringComparer.Ordinal);
        }

        await Task.WhenAll(retired.Select(s => s.StopAsync("the config changed").AsTask()));
        return change;
    }

    /// <summary>Whether two models of an upstream would run it the same way (every setting compared, secrets by reference only).</summary>
    private static bool Same(UpstreamModel a, UpstreamModel b) =>
        System.Text.Json.JsonSerializer.Serialize(a, s_compare) == System.Text.Json.JsonSerializer.Serialize(b, s_compare);

    private static readonly System.Text.Json.JsonSerializerOptions s_compare = new() { IncludeFields = false };

    /// <summary>Forgets a session: shared upstreams stop counting it; its per-session instances stop now.</summary>
    public void ReleaseSession(string sessionId)
    {
        foreach (var supervisor in _shared.Values)
        {
            supervisor.ReleaseSession(sessionId);
        }

        foreach (var key in _perSession.Keys.Where(k => k.Session == sessionId))
        {
            if (_perSession.TryRemove(key, out var supervisor))
            {
                var stop = supervisor.StopAsync("its session ended").AsTask();
                _stopping.TryAdd(stop, 0);
                _ = stop.ContinueWith(t => _stopping.TryRemove(t, out _), TaskScheduler.Default);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        var all = _shared.Values.Concat(_perSession.Values).Select(s => s.DisposeAsync().AsTask()).Concat(_stopping.Keys);
        await Task.WhenAll(all);
    }

    /// <param name="owner">The session a per-session (or per-call) instance serves: its server-to-client requests go there.</param>
    private UpstreamSupervisor New(UpstreamModel model, string? owner = null) =>
        new(model, _loggerFactory, _time, Records, (supervisor, change) => ToolsMayHaveChanged?.Invoke(supervisor, change), _peers, owner, _logs?.For(model.Name),
            Protocols);
}

/// <summary>What a config change did to the upstreams, by name.</summary>
internal sealed record RegistryChange(IReadOnlyList<string> Changed, IReadOnlyList<string> Added, IReadOnlyList<string> Removed)
{
    public bool Any => Changed.Count + Added.Count + Removed.Count > 0;
}
