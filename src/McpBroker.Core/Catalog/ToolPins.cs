using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>An approved tool definition: its SHA-256 and the definition itself, so a change can be explained.</summary>
internal sealed record ToolPin(string Sha256, JsonNode Definition, DateTimeOffset ApprovedAt);

/// <summary>
/// The approved definitions of one upstream's tools, in <c>state/pins/&lt;upstream&gt;.json</c>. A tool's pin is the
/// SHA-256 of its full wire definition as the upstream lists it (before the config's overrides), serialized
/// canonically: keys sorted, no whitespace. Any change of name, title, description, schemas or annotations changes it.
/// </summary>
internal static class ToolPins
{
    public static string PathFor(string pinsDir, string upstream) => Path.Combine(pinsDir, upstream + ".json");

    /// <summary>The canonical form of a definition: what is hashed and stored.</summary>
    public static JsonNode Canonical(Tool tool) =>
        CanonicalJson.Sort(JsonSerializer.SerializeToNode(tool, McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>()))!;

    public static string Hash(JsonNode canonical) =>
        Convert.ToHexStringLower(Shared.Sha256.HashData(System.Text.Encoding.UTF8.GetBytes(canonical.ToJsonString())));

    public static ToolPin Pin(Tool tool, DateTimeOffset now)
    {
        var canonical = Canonical(tool);
        return new ToolPin(Hash(canonical), canonical, now);
    }

    /// <summary>What differs between an approved definition and the current one, in the fields' wire names.</summary>
    public static string Changes(JsonNode approved, JsonNode current)
    {
        var a = approved as JsonObject ?? [];
        var c = current as JsonObject ?? [];
        var changed = a.Select(p => p.Key).Union(c.Select(p => p.Key))
            .Where(key => !JsonNode.DeepEquals(a[key], c[key]))
            .Order(StringComparer.Ordinal)
            .ToList();
        return changed.Count == 0 ? "nothing visible" : string.Join(", ", changed);
    }

    /// <summary>Reads the pins of one upstream; a missing file is no pins, an unreadable one is reported and treated as none.</summary>
    public static Dictionary<string, ToolPin> Load(string pinsDir, string upstream, Action<string> unreadable)
    {
        var path = PathFor(pinsDir, upstream);
        var pins = new Dictionary<string, ToolPin>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return pins;
        }

        try
        {
            var root = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
            foreach (var (name, pin) in root["tools"]!.AsObject())
            {
                pins[name] = new ToolPin(pin!["sha256"]!.GetValue<string>(), pin["definition"]!.DeepClone(), pin["approved_at"]!.GetValue<DateTimeOffset>());
            }
        }
        catch (Exception ex) when (ex is JsonException or IOException or InvalidOperationException or NullReferenceException or FormatException)
        {
            unreadable($"{path}: {ex.Message}");
            pins.Clear();
        }

        return pins;
    }

    /// <summary>Writes the pins of one upstream atomically (temp file, then rename), mode 0600.</summary>
    public static void Save(string pinsDir, string upstream, IReadOnlyDictionary<string, ToolPin> pins)
    {
        Platform.PrivateFiles.CreateDirectory(pinsDir);
        var tools = new JsonObject();
        foreach (var (name, pin) in pins.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            tools[name] = new JsonObject
            {
                ["sha256"] = pin.Sha256,
                ["approved_at"] = pin.ApprovedAt,
                ["definition"] = pin.Definition.DeepClone(),
            };
        }

        var path = PathFor(pinsDir, upstream);
        var temp = path + ".tmp";
        File.WriteAllText(temp, new JsonObject { ["upstream"] = upstream, ["tools"] = tools }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(temp, path, overwrite: true);
    }
}
