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

    /// <summary>Equal for equal definitions and quarantine: a refresh that changes neither changes nothing.</summary>
    public string Signature { get; }

    public DateTimeOffset FetchedAt { get; }

    public static Tool Copy(Tool tool, string name, string? description) => new()
    {
        Name = name,
        Title = tool.Title,
        Description = description,
        InputSchema = tool.InputSchema,
        OutputSchema = tool.OutputSchema,
        Annotations = tool.Annotations,
        Icons = tool.Icons,
        Meta = tool.Meta,
    };

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
/// are fetched from their upstreams in parallel; a list is fetched again when an instance starts or says its
/// tools changed, and checked against the upstream's pins (<c>state/pins/</c>).
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
        registry.ToolsMayHaveChanged += (supervisor, change) => _ = RefreshAsync(supervisor, change);
    }

    /// <summary>Raised after the catalog changed (a new snapshot is <see cref="Current"/>).</summary>
    public event Action<CatalogSnapshot>? Changed;

    public CatalogSnapshot Current => Volatile.Read(ref _current);

    /// <summary>
    /// Makes sure the catalog holds the tool lists of <paramref name="upstreams"/>, fetching what is missing in
    /// parallel. Returns the snapshot and, per upstream that could not be listed, why.
    /// </summary>
    public async Task<(CatalogSnapshot Snapshot, IReadOnlyDictionary<string, BrokerError> Failures)> EnsureAsync(
        IEnumerable<string> upstreams, string? sessionId, CancellationToken ct)
    {
        var snapshot = Current;
        List<UpstreamModel>? missing = null;
        foreach (var name in upstreams)
        {
            // Every call passes here: nothing is allocated when every upstream is catalogued already.
            if (!snapshot.Upstreams.ContainsKey(name) && _registry.FindModel(name) is { } model)
            {
                (missing ??= []).Add(model);
            }
        }

        if (missing is null)
        {
            return (snapshot, FrozenDictionary<string, BrokerError>.Empty);
        }

        var results = await Task.WhenAll(missing.Select(async model => (Model: model, Result: await ListAsync(model, sessionId, ct))));
        var failures = new Dictionary<string, BrokerError>(StringComparer.Ordinal);
        foreach (var (model, result) in results)
        {
            if (result.Ok)
            {
                Update(model, result.Value!);
            }
            else
            {
                failures[model.Name] = result.Error!;
            }
        }

        return (Current, failures);
    }

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

        var listed = await ListAsync(model, null, ct);
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

            foreach (var name in change.Changed.Concat(change.Added))
            {
                var model = models[name];
                _pins[name] = model.PinTools == PinSetting.False
                    ? new Dictionary<string, ToolPin>(StringComparer.Ordinal)
                    : ToolPins.Load(_pinsDir, name, reason => LogPinsUnreadable(name, reason));
                if (upstreams.TryGetValue(name, out var old))
                {
                    upstreams[name] = Build(model, [.. old.Listed], old.FetchedAt);
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

    private async Task<Outcome<IList<Tool>>> ListAsync(UpstreamModel model, string? sessionId, CancellationToken ct)
    {
        await using var lease = _registry.Acquire(model.Name, sessionId)!.Value;
        return await lease.Supervisor.ListToolsAsync(sessionId, ct);
    }

    /// <summary>Lists the tools of an instance that just started or announced a change, and takes in what differs.</summary>
    private async Task RefreshAsync(UpstreamSupervisor supervisor, ToolsChange change)
    {
        await Task.Yield();
        var model = supervisor.Model;

        // A per-call instance lives for one request: listing on every start would double each call.
        if (model.Mode == UpstreamMode.PerCall
            || (change == ToolsChange.Started && Current.Upstreams.GetValueOrDefault(model.Name) is { } known
                && supervisor.Snapshot().StartedAt is { } started && known.FetchedAt >= started))
        {
            return;
        }

        var result = await supervisor.ListToolsAsync(null, CancellationToken.None);
        if (result.Ok)
        {
            Update(model, result.Value!);
        }
        else
        {
            LogRefreshFailed(model.Name, result.Error!.Message);
        }
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

            var upstreams = _current.Upstreams.ToDictionary(StringComparer.Ordinal);
            upstreams[model.Name] = entry;
            snapshot = new CatalogSnapshot(_current.Version + 1, upstreams.ToFrozenDictionary(StringComparer.Ordinal));
            _current = snapshot;
        }

        WriteCache(entry);
        Changed?.Invoke(snapshot);
    }

    /// <summary>An upstream's entry against its pins; with trust_on_first_use, tools never seen before are pinned as they are (call under the lock).</summary>
    private UpstreamTools Build(UpstreamModel model, IList<Tool> listed, DateTimeOffset fetchedAt)
    {
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

        return new UpstreamTools(model, listed, fetchedAt, pins);
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
            if (root.GetProperty("fingerprint").GetString() != upstream.Fingerprint)
            {
                return null;
            }

            var result = root.GetProperty("result").Deserialize(McpJsonUtilities.DefaultOptions.GetTypeInfo<ListToolsResult>());
            return result is null ? null : Build(upstream, result.Tools, root.GetProperty("fetched_at").GetDateTimeOffset());
        }
        catch (Exception ex) when (ex is JsonException or IOException or KeyNotFoundException or InvalidOperationException)
        {
            LogCacheUnreadable(upstream.Name, ex.Message);
            return null;
        }
    }

    private void WriteCache(UpstreamTools entry)
    {
        try
        {
            Directory.CreateDirectory(_cacheDir);
            var temp = CachePath(entry.Upstream) + ".tmp";
            using (var stream = File.Create(temp))
            using (var writer = new Utf8JsonWriter(stream))
            {
                writer.WriteStartObject();
                writer.WriteString("fingerprint", entry.Upstream.Fingerprint);
                writer.WriteString("fetched_at", entry.FetchedAt);
                writer.WritePropertyName("result");
                JsonSerializer.Serialize(writer, new ListToolsResult { Tools = [.. entry.Listed] }, McpJsonUtilities.DefaultOptions.GetTypeInfo<ListToolsResult>());
                writer.WriteEndObject();
            }

            File.Move(temp, CachePath(entry.Upstream), overwrite: true);
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

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "Could not refresh the tools of {Upstream}: {Reason}")]
    private partial void LogRefreshFailed(string upstream, string reason);
}
