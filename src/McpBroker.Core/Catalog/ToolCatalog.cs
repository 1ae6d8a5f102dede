using System.Collections.Frozen;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Upstreams;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>One upstream's tool definitions, as last listed, with the config's tool overrides applied.</summary>
internal sealed record UpstreamTools
{
    public UpstreamTools(UpstreamModel upstream, IEnumerable<Tool> listed, DateTimeOffset fetchedAt)
    {
        Upstream = upstream;
        Listed = [.. listed];
        FetchedAt = fetchedAt;
        Tools = [.. Listed
            .Where(t => upstream.ToolOverrides.GetValueOrDefault(t.Name)?.Hidden != true)
            .Select(t => upstream.ToolOverrides.GetValueOrDefault(t.Name)?.Description is { } description ? Copy(t, t.Name, description) : t)];
    }

    public UpstreamModel Upstream { get; }

    /// <summary>What the upstream listed (cached as is).</summary>
    public IReadOnlyList<Tool> Listed { get; }

    /// <summary>What profiles may see: hidden tools removed, descriptions replaced.</summary>
    public IReadOnlyList<Tool> Tools { get; }

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
}

/// <summary>An immutable view of every known tool list and the search index over them.</summary>
internal sealed class CatalogSnapshot
{
    private readonly Lazy<SearchIndex> _index;

    public CatalogSnapshot(long version, FrozenDictionary<string, UpstreamTools> upstreams)
    {
        Version = version;
        Upstreams = upstreams;
        _index = new Lazy<SearchIndex>(() => SearchIndex.Build(upstreams.Values.SelectMany(u => u.Tools.Select(t => new SearchDocument(
            CanonicalName(u.Upstream, t), t.Name, t.Description, ParameterNames(t), u.Upstream.Purpose, u.Upstream.Tags)))));
    }

    public long Version { get; }

    public FrozenDictionary<string, UpstreamTools> Upstreams { get; }

    public SearchIndex Index => _index.Value;

    public static string CanonicalName(UpstreamModel upstream, Tool tool) => $"{upstream.Prefix}.{tool.Name}";

    public static IReadOnlyList<string> ParameterNames(Tool tool) =>
        tool.InputSchema.ValueKind == JsonValueKind.Object && tool.InputSchema.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object
            ? [.. props.EnumerateObject().Select(p => p.Name)]
            : [];
}

/// <summary>
/// Tool definitions per upstream: kept in memory, cached on disk under <c>cache/tools/</c> (trusted only for the
/// same upstream fingerprint), so search works after a daemon restart without starting anything. Missing lists
/// are fetched from their upstreams in parallel.
/// </summary>
internal sealed partial class ToolCatalog
{
    private readonly UpstreamRegistry _registry;
    private readonly string _cacheDir;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private CatalogSnapshot _current;

    public ToolCatalog(UpstreamRegistry registry, RuntimeModel runtime, ILogger<ToolCatalog> logger, TimeProvider time)
    {
        _registry = registry;
        _cacheDir = Path.Combine(runtime.CacheDir, "tools");
        _logger = logger;
        _time = time;
        var cached = new Dictionary<string, UpstreamTools>(StringComparer.Ordinal);
        foreach (var model in registry.Models)
        {
            if (ReadCache(model) is { } entry)
            {
                cached[model.Name] = entry;
            }
        }

        _current = new CatalogSnapshot(1, cached.ToFrozenDictionary(StringComparer.Ordinal));
    }

    public CatalogSnapshot Current => Volatile.Read(ref _current);

    /// <summary>
    /// Makes sure the catalog holds the tool lists of <paramref name="upstreams"/>, fetching what is missing in
    /// parallel. Returns the snapshot and, per upstream that could not be listed, why.
    /// </summary>
    public async Task<(CatalogSnapshot Snapshot, IReadOnlyDictionary<string, BrokerError> Failures)> EnsureAsync(
        IEnumerable<string> upstreams, string? sessionId, CancellationToken ct)
    {
        var snapshot = Current;
        var missing = upstreams.Where(u => !snapshot.Upstreams.ContainsKey(u)).Select(_registry.FindModel).OfType<UpstreamModel>().ToList();
        if (missing.Count == 0)
        {
            return (snapshot, FrozenDictionary<string, BrokerError>.Empty);
        }

        var results = await Task.WhenAll(missing.Select(async model =>
        {
            await using var lease = _registry.Acquire(model.Name, sessionId)!.Value;
            return (Model: model, Result: await lease.Supervisor.ListToolsAsync(sessionId, ct));
        }));
        var failures = new Dictionary<string, BrokerError>(StringComparer.Ordinal);
        foreach (var (model, result) in results)
        {
            if (result.Ok)
            {
                Update(new UpstreamTools(model, [.. result.Value!], _time.GetUtcNow()));
            }
            else
            {
                failures[model.Name] = result.Error!;
            }
        }

        return (Current, failures);
    }

    private void Update(UpstreamTools entry)
    {
        lock (_gate)
        {
            var upstreams = _current.Upstreams.ToDictionary(StringComparer.Ordinal);
            upstreams[entry.Upstream.Name] = entry;
            _current = new CatalogSnapshot(_current.Version + 1, upstreams.ToFrozenDictionary(StringComparer.Ordinal));
        }

        WriteCache(entry);
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
            return result is null ? null : new UpstreamTools(upstream, [.. result.Tools], root.GetProperty("fetched_at").GetDateTimeOffset());
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
}
