using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Upstreams;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>A tool held back because its definition is not the approved one.</summary>
internal sealed record QuarantinedTool(Tool Tool, string Reason);

/// <summary>
/// One upstream's tool definitions, as last listed, with the config's tool overrides applied and, when the
/// upstream's tools are pinned, every tool whose definition is not the approved one held back in quarantine.
/// </summary>
internal sealed record UpstreamTools
{
    public UpstreamTools(UpstreamModel upstream, IEnumerable<Tool> listed, DateTimeOffset fetchedAt, IReadOnlyDictionary<string, ToolPin>? pins = null)
    {
        Upstream = upstream;
        Listed = [.. listed];
        FetchedAt = fetchedAt;
        var tools = new List<Tool>();
        var quarantined = new List<QuarantinedTool>();
        var hashes = new List<string>();
        foreach (var tool in Listed)
        {
            var canonical = ToolPins.Canonical(tool);
            var hash = ToolPins.Hash(canonical);
            hashes.Add(hash);
            var overrides = upstream.ToolOverrides.GetValueOrDefault(tool.Name);
            if (overrides?.Hidden == true)
            {
                continue;
            }

            var shown = overrides?.Description is { } description ? Copy(tool, tool.Name, description) : tool;
            if (upstream.PinTools != PinSetting.False && QuarantineReason(pins?.GetValueOrDefault(tool.Name), canonical, hash) is { } reason)
            {
                quarantined.Add(new QuarantinedTool(shown, reason));
            }
            else
            {
                tools.Add(shown);
            }
        }

        Tools = tools;
        Quarantined = quarantined;
        _segment = new Lazy<SearchSegment>(() => SearchSegment.Build(Tools.Select(t => CatalogSnapshot.Document(upstream, t))));
        Signature = ToolPins.Hash(new JsonArray([.. hashes.Concat(quarantined.Select(q => "q:" + q.Tool.Name)).Select(h => (JsonNode)h)]));
    }

    private readonly Lazy<SearchSegment> _segment;

    public UpstreamModel Upstream { get; }

    /// <summary>The search postings of <see cref="Tools"/>, built once per entry (so once per change of this upstream).</summary>
    public SearchSegment Segment => _segment.Value;

    /// <summary>What the upstream listed (cached as is).</summary>
    public IReadOnlyList<Tool> Listed { get; }

    /// <summary>What profiles may see: hidden and quarantined tools removed, descriptions replaced.</summary>
    public IReadOnlyList<Tool> Tools { get; }

    /// <summary>Tools whose definition changed since it was approved, or that were never approved.</summary>
    public IReadOnlyList<QuarantinedTool> Quarantined { get; }

    /// <summary>What the catalog's limits cut from the upstream's list (<see cref="CatalogLimits"/>), in words for status.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Equal for equal definitions and quarantine: a refresh that changes neither changes nothing.</summary>
    public string Signature { get; }

    public DateTimeOffset FetchedAt { get; }

    public static Tool Copy(Tool tool, string name, string? description) => WireExtras.Carry(tool, new()
    {
        Name = name,
        Title = tool.Title,
        Description = description,
        InputSchema = tool.InputSchema,
        OutputSchema = tool.OutputSchema,
        Annotations = tool.Annotations,
        Icons = tool.Icons,
        Meta = tool.Meta,
    });

    private static string? QuarantineReason(ToolPin? pin, JsonNode canonical, string hash) =>
        pin is null ? "not approved yet"
        : pin.Sha256 == hash ? null
        : $"changed since it was approved at {pin.ApprovedAt:yyyy-MM-dd HH:mm} UTC: {ToolPins.Changes(pin.Definition, canonical)}";
}

/// <summary>An immutable view of every known tool list and the search index over them.</summary>
internal sealed class CatalogSnapshot
{
    private readonly Lazy<SearchIndex> _index;

    public CatalogSnapshot(long version, FrozenDictionary<string, UpstreamTools> upstreams)
    {
        Version = version;
        Upstreams = upstreams;
        _index = new Lazy<SearchIndex>(() => SearchIndex.Compose(upstreams.Values.Select(u => u.Segment)));
    }

    public long Version { get; }

    public FrozenDictionary<string, UpstreamTools> Upstreams { get; }

    public SearchIndex Index => _index.Value;

    public static string CanonicalName(UpstreamModel upstream, Tool tool) => $"{upstream.Prefix}.{tool.Name}";

    public static SearchDocument Document(UpstreamModel upstream, Tool tool) =>
        SearchDocument.From(CanonicalName(upstream, tool), tool, upstream.Purpose, upstream.Tags);
}

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
    /// How long a request may wait for an upstream's first listing (one that never failed, on a cold daemon without a
    /// disk cache), counted from when that listing began: long enough for a healthy server (npx included) to start,
    /// short enough that a client's own timeout is not reached. What is not listed by then follows in the background.
    /// </summary>
    public static readonly TimeSpan FirstListingWait = TimeSpan.FromSeconds(10);

    /// <summary>Waits for a listing, but no longer than <paramref name="left"/>: what is not listed by then arrives in the background.</summary>
    private async Task UntilListedOrAsync(Task listing, TimeSpan left, CancellationToken ct)
    {
        try
        {
            await listing.WaitAsync(left, _time, ct);
        }
        catch (TimeoutException)
        {
            // Raw sessions are told list_changed when it arrives.
        }
    }

    /// <summary>The listing in flight of a missing upstream that has never failed (started here if none is); null once it has failed.</summary>
    private Listing? FirstListing(UpstreamModel model, string? sessionId)
    {
        if (HasFailed(model, sessionId))
        {
            return null;
        }

        ListOnce(model, sessionId);
        lock (_gate)
        {
            // Null when it finished meanwhile: listed (the caller finds it in the snapshot) or failed.
            return _listings.GetValueOrDefault(model.Name);
        }
    }

    /// <summary>Whether listing the upstream failed since its last success, or its instance has failures (backoff, open circuit).</summary>
    private bool HasFailed(UpstreamModel model, string? sessionId)
    {
        lock (_gate)
        {
            if (_failed.ContainsKey(model.Name))
            {
                return true;
            }
        }

        return _registry.Snapshot(model.Name, sessionId).Failing;
    }

    /// <summary>Starts a background listing of a failed upstream once its retry time (the catalog's and its instance's) has come.</summary>
    private void RetryInBackgroundIfDue(UpstreamModel model, string? sessionId)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_listings.ContainsKey(model.Name) || (_failed.TryGetValue(model.Name, out var failed) && now < failed.RetryAt))
            {
                return;
            }
        }

        if (_registry.Snapshot(model.Name, sessionId).RetryAt is { } retryAt && now < retryAt)
        {
            return;
        }

        ListOnce(model, sessionId);
    }

    /// <summary>Why a missing upstream has no tools in the catalog: its last failure, or that it is still being listed.</summary>
    private BrokerError WhyMissing(UpstreamModel model, string? sessionId)
    {
        lock (_gate)
        {
            if (_failed.TryGetValue(model.Name, out var failed))
            {
                return failed.Error;
            }
        }

        var state = _registry.Snapshot(model.Name, sessionId);
        return state.Failing
            ? new BrokerError(BrokerErrorCode.UpstreamUnavailable, state.DescribeFailure(), "'broker.status' shows its state; its tools appear once it answers")
            : new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{model.Name}' is starting: its tools are not listed yet",
                "search again in a moment (raw sessions are sent tools/list_changed when they arrive); 'broker.status' shows its state");
    }

    /// <summary>
    /// The one listing in flight of an upstream, started by <paramref name="list"/> (by default on the instance the session
    /// would use) when none is. Its outcome is in the catalog (or its failures) before the task completes.
    /// </summary>
    private Task<Outcome<IList<Tool>>> ListOnce(UpstreamModel model, string? sessionId, Func<Task<Outcome<IList<Tool>>>>? list = null)
    {
        lock (_gate)
        {
            if (_listings.TryGetValue(model.Name, out var running))
            {
                return running.Task;
            }

            var done = new TaskCompletionSource<Outcome<IList<Tool>>>(TaskCreationOptions.RunContinuationsAsynchronously);
            var listing = new Listing(done.Task, _time.GetUtcNow());
            _listings[model.Name] = listing;
            _ = RunListingAsync(model, listing, done, list ?? (() => ListAsync(model, sessionId)));
            return done.Task;
        }
    }

    private async Task RunListingAsync(UpstreamModel model, Listing listing, TaskCompletionSource<Outcome<IList<Tool>>> done, Func<Task<Outcome<IList<Tool>>>> list)
    {
        await Task.Yield();
        Outcome<IList<Tool>> result;
        try
        {
            result = await list();
        }
        catch (Exception ex)
        {
            result = new BrokerError(BrokerErrorCode.Internal, $"listing the tools of '{model.Name}' failed: {ex.GetType().Name}",
                "the daemon log has details");
        }

        if (result.Ok)
        {
            Update(model, result.Value!);
        }
        else
        {
            LogRefreshFailed(model.Name, result.Error!.Message);
        }

        bool again;
        lock (_gate)
        {
            _listings.Remove(model.Name);
            again = listing.Again;
            if (result.Ok)
            {
                _failed.Remove(model.Name);
            }
            else
            {
                // Not retried in the background before the upstream's own backoff would retry it.
                var count = _failed.TryGetValue(model.Name, out var before) ? before.Count + 1 : 1;
                _failed[model.Name] = new ListingFailure(count, _time.GetUtcNow() + model.Restart.DelayAfter(count + 1), result.Error!);
            }
        }

        done.SetResult(result);
        if (again && result.Ok)
        {
            _ = ListOnce(model, null, list);
        }
    }

    /// <summary>A listing in flight; <see cref="Again"/> when the upstream announced a change meanwhile (list once more after it).</summary>
    private sealed class Listing(Task<Outcome<IList<Tool>>> task, DateTimeOffset startedAt)
    {
        public Task<Outcome<IList<Tool>>> Task => task;

        public DateTimeOffset StartedAt => startedAt;

        public bool Again { get; set; }
    }

    /// <summary>Listings of an upstream that failed in a row, the last one's error, and when the background may try again.</summary>
    private sealed record ListingFailure(int Count, DateTimeOffset RetryAt, BrokerError Error);

    /// <summary>
    /// Lists the upstream's tools afresh and approves them as they are now (all of them, or only
    /// <paramref name="tool"/>): they leave quarantine. Returns what was approved, in words.
    /// </summary>
    public async Task<Outcome<string>> ApproveAsync(string upstream, string? tool, CancellationToken ct)
    {
        if (_registry.FindModel(upstream) is not { } model)
        {
            return new BrokerError(BrokerErrorCode.UnknownTool, $"no enabled upstream named '{upstream}'",
                $"defined: {string.Join(", ", _registry.Models.Select(m => m.Name))}");
        }

        var listed = await ListAsync(model, null).WaitAsync(ct);
        if (!listed.Ok)
        {
            return listed.Error!;
        }

        var approve = listed.Value!.Where(t => tool is null || t.Name == tool).ToList();
        if (tool is not null && approve.Count == 0)
        {
            return new BrokerError(BrokerErrorCode.UnknownTool, $"upstream '{upstream}' lists no tool named '{tool}'",
                $"it lists: {string.Join(", ", listed.Value!.Select(t => t.Name))}");
        }

        var before = Current.Upstreams.GetValueOrDefault(upstream)?.Quarantined.ToDictionary(q => q.Tool.Name, q => q.Reason, StringComparer.Ordinal) ?? [];
        lock (_gate)
        {
            if (!_pins.TryGetValue(upstream, out var pins))
            {
                return new BrokerError(BrokerErrorCode.UnknownTool, $"upstream '{upstream}' was removed from the config meanwhile", "nothing to approve");
            }

            if (tool is null)
            {
                pins.Clear();
            }

            foreach (var t in approve)
            {
                pins[t.Name] = ToolPins.Pin(t, _time.GetUtcNow());
            }

            ToolPins.Save(_pinsDir, upstream, pins);
        }

        Update(model, listed.Value!);
        var released = approve.Where(t => before.ContainsKey(t.Name)).Select(t => $"{t.Name} ({before[t.Name]})").ToList();
        return $"approved {approve.Count} tool(s) of '{upstream}'" + (released.Count == 0 ? "" : $"; released from quarantine: {string.Join("; ", released)}")
            + (model.PinTools == PinSetting.False ? $"; note: upstreams.{upstream}.pin_tools is false, so pins are not enforced" : "");
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

    private async Task<Outcome<IList<Tool>>> ListAsync(UpstreamModel model, string? sessionId)
    {
        if (_registry.Acquire(model.Name, sessionId) is not { } lease)
        {
            return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{model.Name}' was removed from the config", "");
        }

        await using (lease)
        {
            return await lease.Supervisor.ListToolsAsync(sessionId, CancellationToken.None);
        }
    }

    /// <summary>Lists the tools of an instance that just started or announced a change, and takes in what differs.</summary>
    private void Refresh(UpstreamSupervisor supervisor, ToolsChange change)
    {
        var model = supervisor.Model;

        // A per-call instance lives for one request: listing on every start would double each call.
        if (model.Mode == UpstreamMode.PerCall
            || (change == ToolsChange.Started && Current.Upstreams.GetValueOrDefault(model.Name) is { } known
                && supervisor.Snapshot().StartedAt is { } started && known.FetchedAt >= started))
        {
            return;
        }

        lock (_gate)
        {
            if (_listings.TryGetValue(model.Name, out var running))
            {
                // A start is seen by the listing in flight (it waits for the instance); a change needs one more after it.
                running.Again |= change == ToolsChange.ListChanged;
                return;
            }
        }

        _ = ListOnce(model, null, () => supervisor.ListToolsAsync(null, CancellationToken.None));
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
    private string CachePath(UpstreamModel upstream) => Path.Combine(_cacheDir, upstream.Name + ".json");

    private UpstreamTools? ReadCache(UpstreamModel upstream)
    {
        var path = CachePath(upstream);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.GetProperty("fingerprint").GetString() != upstream.Fingerprint
                || (root.TryGetProperty("limits", out var limits) && (limits.GetProperty("max_tools").GetInt32() != upstream.MaxTools
                    || limits.GetProperty("max_tool_bytes").GetInt32() != upstream.MaxToolBytes)))
            {
                return null; // another server, or a list cut to other limits: listed afresh when needed
            }

            // Each tool as the upstream wrote it: the typed tool, with what the SDK's type does not model kept beside it.
            var tools = WireExtras.Items<Tool>(JsonNode.Parse(root.GetProperty("result").GetRawText())!.AsObject(), "tools");
            var warnings = root.TryGetProperty("warnings", out var said) ? said.EnumerateArray().Select(w => w.GetString() ?? "").ToList() : null;
            return Build(upstream, tools, root.GetProperty("fetched_at").GetDateTimeOffset(), warnings);
        }
        catch (Exception ex) when (ex is JsonException or IOException or KeyNotFoundException or InvalidOperationException or McpException)
        {
            LogCacheUnreadable(upstream.Name, ex.Message);
            return null;
        }
    }

    private void WriteCache(UpstreamTools entry)
    {
        try
        {
            Platform.PrivateFiles.CreateDirectory(_cacheDir);
            Platform.PrivateFiles.WriteAtomic(CachePath(entry.Upstream), stream =>
            {
                using var writer = new Utf8JsonWriter(stream);
                writer.WriteStartObject();
                writer.WriteString("fingerprint", entry.Upstream.Fingerprint);
                writer.WriteString("fetched_at", entry.FetchedAt);
                writer.WriteStartObject("limits");
                writer.WriteNumber("max_tools", entry.Upstream.MaxTools);
                writer.WriteNumber("max_tool_bytes", entry.Upstream.MaxToolBytes);
                writer.WriteEndObject();
                writer.WriteStartArray("warnings");
                foreach (var warning in entry.Warnings)
                {
                    writer.WriteStringValue(warning);
                }

                writer.WriteEndArray();
                writer.WritePropertyName("result");
                new JsonObject { ["tools"] = new JsonArray([.. entry.Listed.Select(t => (JsonNode)WireExtras.Serialize(t, withExtras: true))]) }.WriteTo(writer);
                writer.WriteEndObject();
            });
        }
        catch (IOException ex)
        {
            LogCacheUnwritable(entry.Upstream.Name, ex.Message);
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Ignoring the unreadable tool cache of {Upstream}: {Reason}")]
    private partial void LogCacheUnreadable(string upstream, string reason);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Could not write the tool cache of {Upstream}: {Reason}")]
    private partial void LogCacheUnwritable(string upstream, string reason);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Ignoring the unreadable tool pins of {Upstream} (its pinned tools stay quarantined until approved): {Reason}")]
    private partial void LogPinsUnreadable(string upstream, string reason);

    [LoggerMessage(EventId = 203, Level = LogLevel.Warning, Message = "Tool {Upstream}.{Tool} is quarantined: {Reason}; approve it with: mcp-broker tools approve {Upstream} {Tool}")]
    private partial void LogQuarantined(string upstream, string tool, string reason);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Upstream {Upstream}'s tool list was cut to the catalog's limits: {Warning}")]
    private partial void LogLimited(string upstream, string warning);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "Could not refresh the tools of {Upstream}: {Reason}")]
    private partial void LogRefreshFailed(string upstream, string reason);
}
