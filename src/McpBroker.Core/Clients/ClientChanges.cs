using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using Tomlyn;
using Tomlyn.Model;
using YamlDotNet.RepresentationModel;

namespace McpBroker.Clients;

/// <summary>
/// What changed in a client's file between two versions, by top-level key and by server entry: "userID (added)",
/// "mcpServers.github (added)". How rollback names what a client wrote after the broker's last write, which restoring
/// the backup would discard. Values are never shown, so a secret a client stored is not printed.
/// </summary>
internal static class ClientChanges
{
    private static readonly JsonDocumentOptions s_jsonc = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public static IReadOnlyList<string> Describe(ClientFormat format, byte[]? from, byte[]? to)
    {
        if (from is null || to is null)
        {
            return [from is null ? "the whole file (it did not exist before)" : "the file was deleted"];
        }

        try
        {
            var before = Flatten(format, from);
            var after = Flatten(format, to);
            var container = ClientFormats.ContainerKey(format);
            var changes = new List<string>();
            foreach (var key in before.Keys.Union(after.Keys).Order(StringComparer.Ordinal))
            {
                var what = !before.TryGetValue(key, out var a) ? "added" : !after.TryGetValue(key, out var b) ? "removed" : a == b ? null : "changed";
                if (what is not null && !(key == container && IsServers(key, before, after)))
                {
                    changes.Add($"{key} ({what})");
                }
            }

            return changes.Count > 0 ? changes : ["layout or comments only"];
        }
        catch (Exception e) when (e is JsonException or TomlException or YamlDotNet.Core.YamlException or ClientConfigException)
        {
            return ["the file no longer parses; compare it with the backup by hand"];
        }
    }

    /// <summary>The container line is dropped when its servers are listed one by one instead.</summary>
    private static bool IsServers(string key, Dictionary<string, string> before, Dictionary<string, string> after) =>
        before.Keys.Concat(after.Keys).Any(k => k.StartsWith(key + ".", StringComparison.Ordinal));

    /// <summary>Each top-level key to its value's canonical text, and each server entry as "container.name".</summary>
    private static Dictionary<string, string> Flatten(ClientFormat format, byte[] bytes)
    {
        var container = ClientFormats.ContainerKey(format);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var text = Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF');
        switch (format)
        {
            case ClientFormat.CodexToml:
                foreach (var (key, value) in TomlSerializer.Deserialize<TomlTable>(text) ?? new TomlTable())
                {
                    Add(map, container, key, value is TomlTable t ? t.Select(p => (p.Key, Canonical(p.Value))) : null, Canonical(value));
                }

                break;
            case ClientFormat.Goose:
                if (YamlTextEdit.Load(text, "") is YamlMappingNode root)
                {
                    foreach (var (key, value) in root.Children)
                    {
                        Add(map, container, key.ToString(), value is YamlMappingNode m ? m.Children.Select(p => (p.Key.ToString(), Canonical(p.Value))) : null, Canonical(value));
                    }
                }

                break;
            default:
                if (text.Trim().Length > 0 && JsonNode.Parse(text, documentOptions: s_jsonc) is JsonObject obj)
                {
                    foreach (var (key, value) in obj)
                    {
                        Add(map, container, key, value is JsonObject o ? o.Select(p => (p.Key, p.Value?.ToJsonString() ?? "null")) : null, value?.ToJsonString() ?? "null");
                    }
                }

                break;
        }

        return map;
    }

    private static void Add(Dictionary<string, string> map, string container, string key, IEnumerable<(string Key, string Value)>? members, string value)
    {
        map[key] = value;
        if (key == container && members is not null)
        {
            foreach (var (name, entry) in members)
            {
                map[$"{key}.{name}"] = entry;
            }
        }
    }

    private static string Canonical(object? value) => value switch
    {
        null => "null",
        TomlTable t => string.Join(",", t.Select(p => $"{p.Key}={Canonical(p.Value)}")),
        TomlArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        TomlTableArray ta => "[" + string.Join(",", ta.Select(Canonical)) + "]",
        YamlNode n => YamlText(n),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>A YAML node's content as text, for comparison only.</summary>
    private static string YamlText(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Value ?? "",
        YamlSequenceNode q => "[" + string.Join(",", q.Children.Select(YamlText)) + "]",
        YamlMappingNode m => "{" + string.Join(",", m.Children.Select(p => $"{p.Key}={YamlText(p.Value)}")) + "}",
        _ => "",
    };
}
