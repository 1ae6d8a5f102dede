using System.Collections.Frozen;
using McpBroker.Config;
using McpBroker.Upstreams;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>
/// Tool definitions per upstream: kept in memory, cached on disk under <c>cache/tools/</c> (trusted only for the
/// same upstream fingerprint), so search works after a daemon restart without starting anything. Missing lists
/// are fetched from their upstreams in parallel, one listing in flight per upstream; a list is fetched again when an
/// instance starts or says its tools changed, and checked against the upstream's pins (<c>state/pins/</c>). Sessions
/// are never held up by an upstream that fails: its listing is retried in the background, no faster than its backoff
/// (docs/architecture.md, "No head-of-line blocking").
/// </summary>
internal sealed partial class ToolCatalog
{
    private readonly UpstreamRegistry _registry;
    private readonly string _cacheDir;
    private readonly string _pinsDir;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Dictionary<string, ToolPin>> _pins = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Listing> _listings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ListingFailure> _failed = new(StringComparer.Ordinal);
    private CatalogSnapshot _current;

    public ToolCatalog(UpstreamRegistry registry, RuntimeModel runtime, ILogger<ToolCatalog> logger, TimeProvider time)
    {
        _registry = registry;
        _cacheDir = Path.Combine(runtime.CacheDir, "tools");
        _pinsDir = Path.Combine(runtime.StateDir, "pins");
        _logger = logger;
        _time = time;
        var cached = new Dictionary<string, UpstreamTools>(StringComparer.Ordinal);
        foreach (var model in registry.Models)
        {
            _pins[model.Name] = model.PinTools == PinSetting.False
                ? new Dictionary<string, ToolPin>(StringComparer.Ordinal)
                : ToolPins.Load(_pinsDir, model.Name, reason => LogPinsUnreadable(model.Name, reason));
            if (ReadCache(model) is { } entry)
            {
                cached[model.Name] = entry;
            }
        }

        _current = new CatalogSnapshot(1, cached.ToFrozenDictionary(StringComparer.Ordinal));
        registry.ToolsMayHaveChanged += Refresh;
    }

    /// <summary>Raised after the catalog changed (a new snapshot is <see cref="Current"/>).</summary>
    public event Action<CatalogSnapshot>? Changed;

    public CatalogSnapshot Current => Volatile.Read(ref _current);

    /// <summary>
    /// Makes sure the catalog holds the tool lists of <paramref name="upstreams"/>, waiting for every one missing (each
    /// listed once, in parallel, sharing a listing already in flight). For <c>tools warm</c>, whose job is to wait:
    /// sessions use <see cref="AvailableAsync"/> and <see cref="ListedAsync"/>, which never wait on a failing upstream.
    /// Returns the snapshot and, per upstream that could not be listed, why.
    /// </summary>
    public async Task<(CatalogSnapshot Snapshot, IReadOnlyDictionary<string, BrokerError> Failures)> EnsureAsync(
        IEnumerable<string> upstreams, string? sessionId, CancellationToken ct)
    {
        var snapshot = Current;
        var missing = upstreams.Where(n => !snapshot.Upstreams.ContainsKey(n)).Select(_registry.FindModel).OfType<UpstreamModel>().ToList();
        if (missing.Count == 0)
        {
            return (snapshot, FrozenDictionary<string, BrokerError>.Empty);
        }

        var results = await Task.WhenAll(missing.Select(async model => (Model: model, Result: await ListOnce(model, sessionId).WaitAsync(ct))));
        var failures = new Dictionary<string, BrokerError>(StringComparer.Ordinal);
        foreach (var (model, result) in results.Where(r => !r.Result.Ok))
        {
            failures[model.Name] = result.Error!;
        }

        return (Current, failures);
    }

    /// <summary>
    /// What the catalog holds of <paramref name="upstreams"/> now, and why each missing one is missing. Never waits on
    /// an upstream that has failed (a failed listing or start, backoff, open circuit): its listing is retried in the
    /// background once its retry time has come, at most one listing per upstream at a time. With
    /// <paramref name="waitForFirstListings"/>, a missing upstream that has never failed — listed for the first time,
    /// on a cold daemon without a disk cache — is waited for, but only until <see cref="FirstListingWait"/> (at most its
    /// start timeout) after its listing began, however many requests wait on it.
    /// </summary>
    public async ValueTask<(CatalogSnapshot Snapshot, IReadOnlyDictionary<string, BrokerError> Unavailable)> AvailableAsync(
        IEnumerable<string> upstreams, string? sessionId, bool waitForFirstListings, CancellationToken ct)
    {
        var snapshot = Current;
        List<UpstreamModel>? missing = null;
        foreach (var name in upstreams)
        {
            // Every list and search passes here: nothing is allocated when every upstream is catalogued already.
            if (!snapshot.Upstreams.ContainsKey(name) && _registry.FindModel(name) is { } model)
            {
                (missing ??= []).Add(model);
            }
        }

        if (missing is null)
        {
            return (snapshot, FrozenDictionary<string, BrokerError>.Empty);
        }

        List<Task>? waits = null;
        foreach (var model in missing)
        {
            if (FirstListing(model, sessionId) is { } listing)
            {
                var left = listing.StartedAt + (model.StartTimeout < FirstListingWait ? model.StartTimeout : FirstListingWait) - _time.GetUtcNow();
                if (waitForFirstListings && left > TimeSpan.Zero)
                {
                    (waits ??= []).Add(UntilListedOrAsync(listing.Task, left, ct));
                }
            }
            else
            {
                RetryInBackgroundIfDue(model, sessionId);
            }
        }

        if (waits is not null)
        {
            await Task.WhenAll(waits);
        }

        snapshot = Current;
        var unavailable = new Dictionary<string, BrokerError>(StringComparer.Ordinal);
        foreach (var model in missing.Where(m => !snapshot.Upstreams.ContainsKey(m.Name)))
        {
            unavailable[model.Name] = WhyMissing(model, sessionId);
        }

        return (snapshot, unavailable);
    }

    /// <summary>
    /// The catalog with <paramref name="upstream"/>'s tools, listing them first if they are missing: what a call to one
    /// upstream needs, and all it waits for (the upstream's own start and backoff rules apply, as to the call itself).
    /// </summary>
    public async ValueTask<(CatalogSnapshot Snapshot, BrokerError? Error)> ListedAsync(string upstream, string? sessionId, CancellationToken ct)
    {
        var snapshot = Current;
        if (snapshot.Upstreams.ContainsKey(upstream) || _registry.FindModel(upstream) is not { } model)
        {
            return (snapshot, null);
        }

        var result = await ListOnce(model, sessionId).WaitAsync(ct);
        return (Current, result.Ok ? null : result.Error);
    }

    /// <summary>
    /// After <c>upstream restart</c>: the next list or search retries a failed listing at once (in the background still:
    /// an upstream that failed is not waited on until it has been listed again).
    /// </summary>
    public void RetryFailedListingNow(string upstream)
    {
        lock (_gate)
        {
            if (_failed.TryGetValue(upstream, out var failed))
            {
                _failed[upstream] = failed with { RetryAt = DateTimeOffset.MinValue };
            }
        }
    }

    /// <summary>
    /// Takes a config change in: a changed upstream's tools are seen through its new settings at once (descriptions,
    /// hidden and mutating overrides, pins) and re-listed when it restarts; an added one is listed when first needed (or
    /// taken from the disk cache); a removed one's tools go. Raw sessions whose view changed are told.
    /// </summary>
    public void Apply(BrokerModel next, RegistryChange change)
    {
        if (!change.Any)
        {
            return;
        }

        CatalogSnapshot snapshot;
        lock (_gate)
        {
            var models = next.Upstreams.ToDictionary(u => u.Name, StringComparer.Ordinal);
            var upstreams = _current.Upstreams.Where(u => !change.Removed.Contains(u.Key)).ToDictionary(StringComparer.Ordinal);
            foreach (var name in change.Removed)
            {
                _pins.Remove(name);
            }

            // New settings deserve a first try of their own: a changed upstream's past failures are forgotten.
            foreach (var name in change.Changed.Concat(change.Added).Concat(change.Removed))
            {
                _failed.Remove(name);
            }

            foreach (var name in change.Changed.Concat(change.Added))
            {
                var model = models[name];
                _pins[name] = model.PinTools == PinSetting.False
                    ? new Dictionary<string, ToolPin>(StringComparer.Ordinal)
                    : ToolPins.Load(_pinsDir, name, reason => LogPinsUnreadable(name, reason));
                if (upstreams.TryGetValue(name, out var old))
                {
                    upstreams[name] = Build(model, [.. old.Listed], old.FetchedAt, old.Warnings);
                }
                else if (ReadCache(model) is { } cached)
                {
                    upstreams[name] = cached;
                }
            }

            snapshot = new CatalogSnapshot(_current.Version + 1, upstreams.ToFrozenDictionary(StringComparer.Ordinal));
            _current = snapshot;
        }

        Changed?.Invoke(snapshot);
    }

    private void Update(UpstreamModel listedWith, IList<Tool> listed)
    {
        UpstreamTools entry;
        CatalogSnapshot snapshot;
        lock (_gate)
        {
            // A listing can finish after a reload: of an upstream since removed it is dropped; otherwise it is seen
            // through the settings the config has now (as Apply does), never the ones it was started with.
            if (_registry.FindModel(listedWith.Name) is not { } model || !_pins.ContainsKey(model.Name))
            {
                return;
            }

            entry = Build(model, listed, _time.GetUtcNow());
            var old = _current.Upstreams.GetValueOrDefault(model.Name);
            if (old?.Signature == entry.Signature)
            {
                return;
            }

            foreach (var q in entry.Quarantined.Where(q => old?.Quarantined.Any(o => o.Tool.Name == q.Tool.Name && o.Reason == q.Reason) != true))
            {
                LogQuarantined(model.Name, q.Tool.Name, q.Reason);
            }

            foreach (var warning in entry.Warnings.Except(old?.Warnings ?? [], StringComparer.Ordinal))
            {
                LogLimited(model.Name, warning);
            }

            var upstreams = _current.Upstreams.ToDictionary(StringComparer.Ordinal);
            upstreams[model.Name] = entry;
            snapshot = new CatalogSnapshot(_current.Version + 1, upstreams.ToFrozenDictionary(StringComparer.Ordinal));
            _current = snapshot;
        }

        WriteCache(entry);
        Changed?.Invoke(snapshot);
    }

    /// <summary>
    /// An upstream's entry: its list cut to the catalog's limits (<paramref name="earlier"/>: what an earlier cut of the
    /// same list said), then checked against its pins; with trust_on_first_use, tools never seen before are pinned as
    /// they are (call under the lock).
    /// </summary>
    private UpstreamTools Build(UpstreamModel model, IList<Tool> listed, DateTimeOffset fetchedAt, IReadOnlyList<string>? earlier = null)
    {
        (listed, var warnings) = CatalogLimits.Apply(model, listed);
        if (earlier is { Count: > 0 })
        {
            warnings = [.. earlier.Concat(warnings).Distinct(StringComparer.Ordinal)];
        }

        var pins = _pins[model.Name];
        if (model.PinTools == PinSetting.TrustOnFirstUse)
        {
            var unseen = listed.Where(t => !pins.ContainsKey(t.Name)).ToList();
            foreach (var tool in unseen)
            {
                pins[tool.Name] = ToolPins.Pin(tool, _time.GetUtcNow());
            }

            if (unseen.Count > 0)
            {
                ToolPins.Save(_pinsDir, model.Name, pins);
            }
        }

        return new UpstreamTools(model, listed, fetchedAt, pins) { Warnings = warnings };
    }
}
