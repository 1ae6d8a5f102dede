using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace McpBroker.Config;

/// <summary>
/// The JSON Schema of broker.yaml and its validator. <c>config/broker.schema.json</c> is embedded for
/// <c>config schema</c>, and its checks are generated into <see cref="ConfigSchemaValidator"/>; golden tests keep the
/// schema equal to what the <see cref="BrokerConfig"/> records generate and the checks equal to what the schema
/// generates, so neither can drift from the code. Each error is explained in terms of YAML paths, what is wrong and
/// what is allowed.
/// </summary>
public static class ConfigSchema
{
    private const string ResourceName = "McpBroker.broker.schema.json";

    // Non-ASCII text stays as written in the YAML (tool defaults and smoke arguments are shown by 'config show' and
    // sent to upstreams). A float JSON has no number for would be written as a string instead of failing (YamlDocument
    // reads .inf and .nan as strings already).
    private static readonly JsonSerializerOptions s_compact = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions s_indented = new(s_compact) { WriteIndented = true };

    /// <summary>The committed schema, as <c>mcp-broker config schema</c> prints it.</summary>
    public static string ToJson()
    {
        using var stream = typeof(ConfigSchema).Assembly.GetManifestResourceStream(ResourceName)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Checks a document against the schema. Returns the compact JSON the config records are read from — without the
    /// values the schema refused — and the paths of those; every error is added to <paramref name="issues"/>.
    /// </summary>
    public static (string Json, List<string> ErrorPaths) Check(JsonNode? document, List<ConfigIssue> issues)
    {
        var json = Compact(document);
        var found = ConfigSchemaValidator.Judge(json);
        if (found.Count == 0)
        {
            return (json, []);
        }

        foreach (var error in found)
        {
            var issue = ConfigIssue.Error(error.Path, error.Message);
            if (!issues.Contains(issue))
            {
                issues.Add(issue);
            }
        }

        var copy = document?.DeepClone();
        foreach (var pointer in found.Select(e => e.Pointer).OfType<string>().Distinct().OrderByDescending(p => p, PointerOrder.Instance))
        {
            copy = Remove(copy, pointer);
        }

        return (Compact(copy), [.. found.Select(e => e.Path).Distinct()]);
    }

    /// <summary>The indented JSON of a node (how a mapping or list used as a YAML key is named).</summary>
    public static string IndentedJson(JsonNode? node) => node?.ToJsonString(s_indented) ?? "null";

    private static string Compact(JsonNode? node) => node?.ToJsonString(s_compact) ?? "null";

    /// <summary>The tree without the value at <paramref name="pointer"/> (the whole tree, for the root: null).</summary>
    private static JsonNode? Remove(JsonNode? root, string pointer)
    {
        var segments = Segments(pointer);
        if (segments.Count == 0)
        {
            return null;
        }

        var parent = root;
        foreach (var segment in segments.Take(segments.Count - 1))
        {
            parent = parent switch
            {
                JsonObject obj => obj.TryGetPropertyValue(segment, out var child) ? child : null,
                JsonArray array when int.TryParse(segment, out var i) && i < array.Count => array[i],
                _ => null,
            };
        }

        var last = segments[^1];
        switch (parent)
        {
            case JsonObject obj:
                obj.Remove(last);
                break;
            case JsonArray array when int.TryParse(last, out var index) && index < array.Count:
                array.RemoveAt(index);
                break;
        }

        return root;
    }

    private static List<string> Segments(string pointer) =>
        pointer.Length == 0 ? [] : [.. pointer[1..].Split('/').Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];

    /// <summary>Deeper values first, and within a list the later items first, so removing one leaves the others' indexes.</summary>
    private sealed class PointerOrder : IComparer<string>
    {
        public static readonly PointerOrder Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = Segments(x ?? "");
            var b = Segments(y ?? "");
            for (var i = 0; i < Math.Min(a.Count, b.Count); i++)
            {
                var order = int.TryParse(a[i], out var m) && int.TryParse(b[i], out var n) ? m.CompareTo(n) : string.CompareOrdinal(a[i], b[i]);
                if (order != 0)
                {
                    return order;
                }
            }

            return a.Count.CompareTo(b.Count);
        }
    }
}
