using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using Tomlyn;
using Tomlyn.Model;

namespace McpBroker.Clients;

/// <summary>The one server entry a client gets: the shim, with absolute paths, for one profile.</summary>
internal sealed record ClientEntry(string Name, string Command, IReadOnlyList<string> Args);

/// <summary>
/// How each client spells a stdio MCP server entry, and where in its file the entries live. The shapes follow each
/// client's documented config: <c>mcpServers</c> (Claude Code, Claude Desktop, Gemini CLI, Cursor and the generic
/// settings file), <c>servers</c> with <c>type: stdio</c> (VS Code), <c>mcp</c> with a command array (opencode),
/// <c>[mcp_servers.NAME]</c> (Codex).
/// </summary>
internal static class ClientFormats
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IReadOnlyList<string> Names { get; } = [.. Enum.GetValues<ClientFormat>().Select(Name)];

    /// <summary>The format as the config and the CLI spell it: codex-toml, claude-json, …</summary>
    public static string Name(ClientFormat format) => JsonNamingPolicy.KebabCaseLower.ConvertName(format.ToString());

    /// <summary>What the shim tells the daemon about its client (<c>--client</c>), shown in logs and status.</summary>
    public static string ClientName(ClientFormat format) => format switch
    {
        ClientFormat.CodexToml => "codex",
        ClientFormat.ClaudeJson => "claude-code",
        ClientFormat.GeminiSettings => "gemini",
        ClientFormat.McpSettingsJson => "mcp-client",
        var f => Name(f),
    };

    public static ClientFormat? Parse(string name) =>
        Enum.GetValues<ClientFormat>().Cast<ClientFormat?>().FirstOrDefault(f => Name(f!.Value) == name);

    /// <summary>The entry as the client's file would hold it, inside its container key(s): a starting point to paste.</summary>
    public static string Snippet(ClientFormat format, ClientEntry entry)
    {
        if (format == ClientFormat.CodexToml)
        {
            // The table's keys through Tomlyn (quoting, escaping); its header by hand, so no empty [mcp_servers] precedes it.
            var server = new TomlTable { ["command"] = entry.Command, ["args"] = ToToml(entry.Args) };
            return $"[mcp_servers.{TomlKey(entry.Name)}]\n{TomlSerializer.Serialize(server)}";
        }

        var root = new JsonObject { [ContainerKey(format)] = new JsonObject { [entry.Name] = Entry(format, entry) } };
        if (format == ClientFormat.GeminiSettings)
        {
            // Gemini CLI only starts servers named in mcp.allowed when that list exists.
            root["mcp"] = new JsonObject { ["allowed"] = new JsonArray(entry.Name) };
        }

        return root.ToJsonString(s_json) + "\n";
    }

    /// <summary>The key under which the client keeps its server entries.</summary>
    public static string ContainerKey(ClientFormat format) => format switch
    {
        ClientFormat.Vscode => "servers",
        ClientFormat.Opencode => "mcp",
        ClientFormat.CodexToml => "mcp_servers",
        _ => "mcpServers",
    };

    /// <summary>One server entry in the client's JSON shape.</summary>
    public static JsonObject Entry(ClientFormat format, ClientEntry entry) => format switch
    {
        ClientFormat.Vscode => new JsonObject { ["type"] = "stdio", ["command"] = entry.Command, ["args"] = ToJson(entry.Args) },
        ClientFormat.Opencode => new JsonObject
        {
            ["type"] = "local",
            ["command"] = ToJson([entry.Command, .. entry.Args]),
            ["enabled"] = true,
        },
        ClientFormat.ClaudeJson => new JsonObject { ["type"] = "stdio", ["command"] = entry.Command, ["args"] = ToJson(entry.Args), ["env"] = new JsonObject() },
        _ => new JsonObject { ["command"] = entry.Command, ["args"] = ToJson(entry.Args) },
    };

    /// <summary>A bare TOML key when it may be one, else a quoted key.</summary>
    internal static string TomlKey(string key) =>
        key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? key : JsonSerializer.Serialize(key, s_json);

    private static JsonArray ToJson(IEnumerable<string> items) => new([.. items.Select(i => (JsonNode)i)]);

    private static TomlArray ToToml(IEnumerable<string> items)
    {
        var array = new TomlArray();
        foreach (var item in items)
        {
            array.Add(item);
        }

        return array;
    }
}
