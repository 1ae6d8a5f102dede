using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using Tomlyn;
using Tomlyn.Model;

namespace McpBroker.Clients;

/// <summary>The one server entry a client gets: the shim, with absolute paths, for one profile.</summary>
internal sealed record ClientEntry(string Name, string Command, IReadOnlyList<string> Args)
{
    /// <summary>Ask the client to keep the broker's tools loaded, where it has a setting for it (<see cref="ClientExposure"/>).</summary>
    public bool KeepLoaded { get; init; }
}

/// <summary>
/// How each client spells a stdio MCP server entry, and where in its file the entries live. Where each shape comes from:
/// <list type="bullet">
/// <item><c>mcpServers</c> with <c>command</c>/<c>args</c>: Claude Desktop, Gemini CLI, Cursor, Qwen Code (a Gemini CLI
/// fork: same settings.json shape, under ~/.qwen), Windsurf and Windsurf for JetBrains (~/.codeium), Cline and Roo Code
/// (VS Code global storage), Kiro, LM Studio ("Cursor notation" in its docs), Trae, Antigravity, Kimi CLI, Qoder, and the
/// generic settings file; the file locations follow each client's documentation as ToolHive's client table
/// (pkg/client/config.go) records them.</item>
/// <item>Claude Code: <c>mcpServers</c> with <c>type: stdio</c> and <c>env</c>, as <c>claude mcp add</c> writes it.</item>
/// <item>Copilot CLI: <c>mcpServers</c> in ~/.copilot/mcp-config.json with <c>type: local</c> and <c>tools: ["*"]</c>
/// (every tool), as <c>copilot mcp add</c> writes it.</item>
/// <item>Factory Droid: <c>mcpServers</c> with <c>type: stdio</c> (its docs).</item>
/// <item>Amp: the flat key <c>amp.mcpServers</c> in ~/.config/amp/settings.json (its docs).</item>
/// <item>VS Code (also Insiders and VS Code Server): <c>servers</c> with <c>type: stdio</c> in the user mcp.json.</item>
/// <item>Zed: <c>context_servers</c> with <c>command</c>/<c>args</c>/<c>env</c> in its settings.json (Zed's MCP docs,
/// "As Custom Servers").</item>
/// <item>opencode: <c>mcp</c> with a command array and <c>type: local</c>.</item>
/// <item>Codex: <c>[mcp_servers.NAME]</c> tables in config.toml.</item>
/// <item>Goose: <c>extensions</c> in ~/.config/goose/config.yaml, each a flat map of <c>enabled</c> and goose's
/// <c>ExtensionConfig</c> (<c>type: stdio</c>, <c>name</c>, <c>description</c>, <c>cmd</c>, <c>args</c>, <c>envs</c>,
/// <c>timeout</c>), as goose's own config writer stores it (<see cref="YamlTextEdit"/>).</item>
/// </list>
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
        ClientFormat.Qwen => "qwen-code",
        ClientFormat.Copilot => "copilot-cli",
        var f => Name(f),
    };

    public static ClientFormat? Parse(string name) =>
        Enum.GetValues<ClientFormat>().Cast<ClientFormat?>().FirstOrDefault(f => Name(f!.Value) == name);

    /// <summary>The entry as the client's file would hold it, inside its container key(s): a starting point to paste.</summary>
    public static string Snippet(ClientFormat format, ClientEntry entry)
    {
        if (format == ClientFormat.Goose)
        {
            return "extensions:\n" + GooseEntry(entry, "  ");
        }

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
        ClientFormat.Vscode or ClientFormat.VscodeInsiders or ClientFormat.VscodeServer => "servers",
        ClientFormat.Opencode => "mcp",
        ClientFormat.CodexToml => "mcp_servers",
        ClientFormat.Zed => "context_servers",
        ClientFormat.Amp => "amp.mcpServers",
        ClientFormat.Goose => "extensions",
        _ => "mcpServers",
    };

    /// <summary>The formats whose file is YAML or TOML rather than JSON.</summary>
    public static bool IsJson(ClientFormat format) => format is not (ClientFormat.CodexToml or ClientFormat.Goose);

    /// <summary>
    /// Goose's extension entry as YAML at <paramref name="indent"/> (its key line included): the keys goose's own config
    /// writer stores for a stdio extension, values as JSON strings (valid YAML double-quoted scalars).
    /// </summary>
    public static string GooseEntry(ClientEntry entry, string indent)
    {
        var yaml = new StringBuilder();
        yaml.Append($"{indent}{entry.Name}:\n");
        var inner = indent + indent; // the container is top-level, so the entry's indentation is the file's step
        yaml.Append($"{inner}enabled: true\n");
        yaml.Append($"{inner}type: stdio\n");
        yaml.Append($"{inner}name: {JsonSerializer.Serialize(entry.Name, s_json)}\n");
        yaml.Append($"{inner}description: \"mcp-broker: every MCP server through one entry\"\n");
        yaml.Append($"{inner}cmd: {JsonSerializer.Serialize(entry.Command, s_json)}\n");
        yaml.Append($"{inner}args:\n");
        foreach (var arg in entry.Args)
        {
            yaml.Append($"{inner}- {JsonSerializer.Serialize(arg, s_json)}\n");
        }

        yaml.Append($"{inner}envs: {{}}\n");
        yaml.Append($"{inner}timeout: 300\n");
        return yaml.ToString();
    }

    /// <summary>
    /// One server entry in the client's JSON shape. With <see cref="ClientEntry.KeepLoaded"/> it carries the client's own
    /// setting to never defer the server's tools behind its tool search, where the client has one:
    /// <list type="bullet">
    /// <item>Claude Code: server-level <c>alwaysLoad: true</c> — its settings schema (in the bundled binary of
    /// @anthropic-ai/claude-code 2.1.331, tests/clients) declares <c>alwaysLoad</c> on stdio, sse and http servers: "When true,
    /// all tools from this server are always included in the prompt and never deferred behind tool search, except a tool
    /// the server itself lists with _meta anthropic/alwaysLoad set to false".</item>
    /// <item>Copilot CLI: <c>deferTools: "never"</c> — <c>McpServerConfigDeferTools</c> ("auto" | "never": "Tools are
    /// always included in the initial tool list, even when tool search is enabled") in copilot-sdk/generated/rpc.d.ts of
    /// @github/copilot 1.0.102, which its MCP server form writes only when "never" is chosen.</item>
    /// </list>
    /// Codex, Gemini CLI and the others have no such setting.
    /// </summary>
    public static JsonObject Entry(ClientFormat format, ClientEntry entry)
    {
        var json = Shape(format, entry);
        if (entry.KeepLoaded && format == ClientFormat.ClaudeJson)
        {
            json["alwaysLoad"] = true;
        }
        else if (entry.KeepLoaded && format == ClientFormat.Copilot)
        {
            json["deferTools"] = "never";
        }

        return json;
    }

    private static JsonObject Shape(ClientFormat format, ClientEntry entry) => format switch
    {
        ClientFormat.Vscode or ClientFormat.VscodeInsiders or ClientFormat.VscodeServer or ClientFormat.Factory
            => new JsonObject { ["type"] = "stdio", ["command"] = entry.Command, ["args"] = ToJson(entry.Args) },
        ClientFormat.Copilot => new JsonObject { ["type"] = "local", ["command"] = entry.Command, ["args"] = ToJson(entry.Args), ["tools"] = new JsonArray("*") },
        ClientFormat.Zed => new JsonObject { ["command"] = entry.Command, ["args"] = ToJson(entry.Args), ["env"] = new JsonObject() },
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
