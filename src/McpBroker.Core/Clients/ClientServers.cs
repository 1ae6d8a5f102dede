using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using Tomlyn;
using Tomlyn.Model;

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
    /// <summary>What makes two entries the same server across clients: the URL, else the command and its arguments.</summary>
    public string Identity => Url is { } url ? "url\0" + url.TrimEnd('/') : string.Join('\0', ["cmd", Command ?? "", .. Args]);
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

        return format == ClientFormat.CodexToml ? ReadToml(Encoding.UTF8.GetString(file), path) : ReadJson(format, file, path);
    }

    private static List<ClientServer> ReadJson(ClientFormat format, byte[] file, string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(file, documentOptions: s_jsonc);
        }
        catch (JsonException e)
        {
            throw new ClientConfigException($"{path}: not valid JSON: {e.Message}");
        }

        if (root?[ClientFormats.ContainerKey(format)] is not JsonObject servers)
        {
            return [];
        }

        var list = new List<ClientServer>();
        foreach (var (name, node) in servers)
        {
            if (node is not JsonObject entry)
            {
                continue;
            }

            if (format == ClientFormat.Opencode)
            {
                // opencode: {type: local, command: [exe, args…], environment} or {type: remote, url, headers}.
                var command = Strings(entry["command"]);
                list.Add(new ClientServer(name, command.FirstOrDefault(), [.. command.Skip(1)], Map(entry["environment"]), null,
                    Text(entry["url"]), Map(entry["headers"]), entry["enabled"]?.GetValueKind() != JsonValueKind.False));
                continue;
            }

            // Gemini spells a streamable-HTTP server httpUrl and an SSE one url; the others say url (with a type).
            var url = Text(entry["httpUrl"]) ?? Text(entry["url"]) ?? Text(entry["serverUrl"]);
            list.Add(new ClientServer(name, Text(entry["command"]), Strings(entry["args"]), Map(entry["env"]), Text(entry["cwd"]),
                url, Map(entry["headers"]), entry["disabled"]?.GetValueKind() != JsonValueKind.True));
        }

        return list;
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

    private static string? Text(JsonNode? node) => node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;

    private static List<string> Strings(JsonNode? node) => node is JsonArray array
        ? [.. array.Where(i => i?.GetValueKind() == JsonValueKind.String).Select(i => i!.GetValue<string>())]
        : node?.GetValueKind() == JsonValueKind.String ? [node.GetValue<string>()] : [];

    private static Dictionary<string, string> Map(JsonNode? node) => node is JsonObject obj
        ? obj.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value!.GetValueKind() == JsonValueKind.String ? p.Value.GetValue<string>() : p.Value.ToJsonString())
        : [];

    private static Dictionary<string, string> TomlMap(TomlTable entry, string key) =>
        entry.TryGetValue(key, out var value) && value is TomlTable table
            ? table.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value is string s ? s : Convert.ToString(p.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "")
            : [];
}
