using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Upstreams;
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
