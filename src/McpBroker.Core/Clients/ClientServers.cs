using System.Text;
using System.Text.Json;
using McpBroker.Config;
using Tomlyn;
using Tomlyn.Model;
using YamlDotNet.RepresentationModel;

namespace McpBroker.Clients;

/// <summary>A server entry as a client's config file holds it: a local command or a remote URL.</summary>
internal sealed record ClientServer(
    string Name,
    string? Command,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    string? WorkingDir,
    string? Url,
    IReadOnlyDictionary<string, string> Headers,
    bool Enabled)
{
    /// <summary>A URL server that speaks the older HTTP+SSE transport (Gemini's url, a type: sse entry).</summary>
    public bool Sse { get; init; }

    /// <summary>What makes two entries the same server across clients: the URL, else the command and its arguments.</summary>
    public string Identity => Url is { } url ? ClientImport.UrlIdentity(url) : ClientImport.CommandIdentity(Command ?? "", Args);
}

/// <summary>Reads the server entries of a client's config file, in each format's shape.</summary>
internal static class ClientServers
{
    private static readonly JsonDocumentOptions s_jsonc = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public static IReadOnlyList<ClientServer> Read(ClientFormat format, byte[]? file, string path)
    {
        if (file is null || file.All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            return [];
        }

        if (!System.Text.Unicode.Utf8.IsValid(file))
        {
            // Read on, the bad bytes would become U+FFFD in what the broker writes back, or stop a JSON reader midway.
            throw new ClientConfigException($"{path}: not valid UTF-8 text; a client config is UTF-8: fix or remove the bytes that are not");
        }

        return format switch
        {
            ClientFormat.CodexToml => ReadToml(Encoding.UTF8.GetString(file), path),
            ClientFormat.Goose => ReadGoose(Encoding.UTF8.GetString(file), path),
            _ => ReadJson(format, file, path),
        };
    }

    /// <summary>Goose's <c>extensions</c>: stdio ones (<c>cmd</c>, <c>args</c>, <c>envs</c>) and remote ones (<c>uri</c>, <c>headers</c>); built-ins are not servers.</summary>
    private static List<ClientServer> ReadGoose(string text, string path)
    {
        if (YamlTextEdit.Load(text, path) is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("extensions"), out var node) || node is not YamlMappingNode extensions)
        {
            return [];
        }

        var list = new List<ClientServer>();
        foreach (var (key, value) in extensions.Children)
        {
            if (key is not YamlScalarNode { Value: { } name } || value is not YamlMappingNode entry)
            {
                continue;
            }

            string? Scalar(string k) => entry.Children.TryGetValue(new YamlScalarNode(k), out var v) && v is YamlScalarNode s ? s.Value : null;
            Dictionary<string, string> YamlMap(string k) => entry.Children.TryGetValue(new YamlScalarNode(k), out var v) && v is YamlMappingNode m
                ? m.Children.Where(p => p.Key is YamlScalarNode && p.Value is YamlScalarNode)
                    .ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value ?? "", StringComparer.Ordinal)
                : [];
            var type = Scalar("type");
            if (type is not ("stdio" or "sse" or "streamable_http"))
            {
                continue; // builtin, platform, frontend, inline_python: part of goose itself
            }

            var args = entry.Children.TryGetValue(new YamlScalarNode("args"), out var a) && a is YamlSequenceNode seq
                ? [.. seq.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? "")]
                : new List<string>();
            list.Add(new ClientServer(name, type == "stdio" ? Scalar("cmd") : null, args, YamlMap("envs"), null,
                type == "stdio" ? null : Scalar("uri"), YamlMap("headers"), Scalar("enabled") is not "false") { Sse = type == "sse" });
        }

        return list;
    }

    private static List<ClientServer> ReadJson(ClientFormat format, byte[] file, string path)
    {
        // JsonDocument rather than JsonNode: it keeps duplicate keys (the editor reports them) and reads a BOM.
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(file.AsMemory(file.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0), s_jsonc);
        }
        catch (JsonException e)
        {
            throw new ClientConfigException($"{path}: not valid JSON at line {e.LineNumber + 1}, column {e.BytePositionInLine + 1}: {e.Message.Split(" LineNumber:")[0]} Fix that spot by hand; nothing was changed");
        }

        RefuseUnreadableText(document.RootElement, path);

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(ClientFormats.ContainerKey(format), out var servers) || servers.ValueKind != JsonValueKind.Object)
            {
                return [];
            }

            var list = new List<ClientServer>();
            foreach (var server in servers.EnumerateObject())
            {
                if (server.Value.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                var entry = server.Value;
                if (format == ClientFormat.Opencode)
                {
                    // opencode: {type: local, command: [exe, args…], environment} or {type: remote, url, headers}.
                    var command = Strings(entry, "command");
                    list.Add(new ClientServer(server.Name, command.FirstOrDefault(), [.. command.Skip(1)], Map(entry, "environment"), null,
                        Text(entry, "url"), Map(entry, "headers"), !(entry.TryGetProperty("enabled", out var on) && on.ValueKind == JsonValueKind.False)));
                    continue;
                }

                // Gemini spells a streamable-HTTP server httpUrl and an SSE one url; the others say url (with a type).
                var url = Text(entry, "httpUrl") ?? Text(entry, "url") ?? Text(entry, "serverUrl");
                var sse = Text(entry, "type") == "sse" || (format == ClientFormat.GeminiSettings && Text(entry, "httpUrl") is null && url is not null && Text(entry, "type") != "http");
                list.Add(new ClientServer(server.Name, Text(entry, "command"), Strings(entry, "args"), Map(entry, "env"), Text(entry, "cwd"),
                    url, Map(entry, "headers"), !(entry.TryGetProperty("disabled", out var off) && off.ValueKind == JsonValueKind.True)) { Sse = sse });
            }

            return list;
        }
    }

    private static List<ClientServer> ReadToml(string text, string path)
    {
        TomlTable root;
        try
        {
            root = TomlSerializer.Deserialize<TomlTable>(text) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new ClientConfigException($"{path}: not valid TOML: {e.Message}");
        }
        catch (ArgumentOutOfRangeException)
        {
            // Tomlyn's reader, writing its message about a backslash at the end of the file, throws this instead.
            throw TomlTextEdit.UnfinishedEscape(path);
        }

        if (!root.TryGetValue("mcp_servers", out var value) || value is not TomlTable servers)
        {
            return [];
        }

        var list = new List<ClientServer>();
        foreach (var (name, node) in servers)
        {
            if (node is not TomlTable entry)
            {
                continue;
            }

            var headers = TomlMap(entry, "http_headers");
            if (entry.TryGetValue("bearer_token_env_var", out var bearer) && bearer is string variable)
            {
                headers = new Dictionary<string, string>(headers) { ["Authorization"] = $"Bearer ${{{variable}}}" };
            }

            list.Add(new ClientServer(name, entry.TryGetValue("command", out var c) ? c as string : null,
                entry.TryGetValue("args", out var a) && a is TomlArray args ? [.. args.OfType<string>()] : [],
                TomlMap(entry, "env"), entry.TryGetValue("cwd", out var cwd) ? cwd as string : null,
                entry.TryGetValue("url", out var u) ? u as string : null, headers,
                !entry.TryGetValue("enabled", out var enabled) || enabled is not false));
        }

        return list;
    }

    /// <summary>
    /// A string escaping half a surrogate pair (<c>"\ud800"</c>) is valid JSON but no text: every reader of the file,
    /// here and in the editor, would stop on it. Refused up front, saying so.
    /// </summary>
    private static void RefuseUnreadableText(JsonElement element, string path)
    {
        try
        {
            Walk(element);
        }
        catch (InvalidOperationException)
        {
            throw new ClientConfigException($"{path}: a string holds a \\u escape that is not valid Unicode (half a surrogate pair); fix that string");
        }

        static void Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var member in element.EnumerateObject())
                    {
                        _ = member.Name;
                        Walk(member.Value);
                    }

                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        Walk(item);
                    }

                    break;
                case JsonValueKind.String:
                    _ = element.GetString();
                    break;
            }
        }
    }

    private static string? Text(JsonElement entry, string key) =>
        entry.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static List<string> Strings(JsonElement entry, string key) => !entry.TryGetProperty(key, out var value) ? []
        : value.ValueKind == JsonValueKind.Array ? [.. value.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.String).Select(i => i.GetString()!)]
        : value.ValueKind == JsonValueKind.String ? [value.GetString()!] : [];

    private static Dictionary<string, string> Map(JsonElement entry, string key)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (entry.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in value.EnumerateObject())
            {
                map[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
        }

        return map;
    }

    private static Dictionary<string, string> TomlMap(TomlTable entry, string key) =>
        entry.TryGetValue(key, out var value) && value is TomlTable table
            ? table.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value is string s ? s : Convert.ToString(p.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "")
            : [];
}
