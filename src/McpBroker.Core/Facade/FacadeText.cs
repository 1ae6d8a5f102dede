using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>How the broker tools' answers are written: JSON text results, one-line descriptions, search matches, and arguments read.</summary>
internal static class FacadeText
{
    /// <summary>The <c>_meta</c> key under which a list names the upstreams it lacks (tools, resources, prompts).</summary>
    public const string UnavailableKey = "mcp-broker/unavailable";

    private const int OneLineLength = 160;

    /// <summary>A search match: enough to pick a tool and call it, not its schema (describe_tool has that).</summary>
    public static JsonObject Match(string name, Tool tool, string upstream, bool mutating) => new()
    {
        ["name"] = name,
        ["description"] = OneLine(tool.Description),
        ["upstream"] = upstream,
        ["mutating"] = mutating,
        ["required"] = new JsonArray([.. RequiredArguments(tool).Select(r => (JsonNode)r)]),
    };

    public static CallToolResult Text(JsonNode node) => new() { Content = [new TextContentBlock { Text = node.ToJsonString() }] };

    /// <summary>The upstreams a list or search could not include, and why, as <c>[{upstream, error}]</c>.</summary>
    public static JsonArray Unavailable(IReadOnlyDictionary<string, BrokerError> unavailable) =>
        new([.. unavailable.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => (JsonNode)new JsonObject { ["upstream"] = f.Key, ["error"] = f.Value.Message })]);

    public static bool TryGetString(IDictionary<string, JsonElement> args, string key, out string value)
    {
        value = args.TryGetValue(key, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "";
        return value.Length > 0;
    }

    /// <summary>An object argument as a dictionary of its members (null when absent or not an object).</summary>
    public static Dictionary<string, JsonElement>? ObjectArgument(IDictionary<string, JsonElement> args, string key) =>
        args.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.Object
            ? v.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal)
            : null;

    public static string OneLine(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "";
        }

        var line = text.Trim().Split('\n', 2)[0].Trim();
        var sentence = line.IndexOf(". ", StringComparison.Ordinal);
        if (sentence > 0)
        {
            line = line[..(sentence + 1)];
        }

        return Truncate(line, OneLineLength);
    }

    public static string Truncate(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static IEnumerable<string> RequiredArguments(Tool tool) =>
        tool.InputSchema.ValueKind == JsonValueKind.Object && tool.InputSchema.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)
            : [];
}
