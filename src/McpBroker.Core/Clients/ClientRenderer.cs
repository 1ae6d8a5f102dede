using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Clients;

/// <summary>What a client's config file would hold after the broker's entry is merged in.</summary>
internal sealed record ClientRender(byte[]? Before, byte[] After, IReadOnlyList<string> Removed, IReadOnlyList<string> Notes)
{
    public bool Changed => Before is null || !Before.AsSpan().SequenceEqual(After);

    /// <summary>Remove only: the servers put back.</summary>
    public IReadOnlyList<string> Restored { get; init; } = [];
}

/// <summary>
/// Merges the broker's entry into a client's config file: the entry is added or replaced, servers named in
/// <c>remove</c> are taken out, and nothing else changes. JSON formats are edited as text (<see cref="JsonTextEdit"/>),
/// Codex's TOML through Tomlyn's syntax tree (<see cref="TomlTextEdit"/>).
/// </summary>
internal static class ClientRenderer
{
    public static ClientRender Render(ClientModel client, ClientEntry entry, byte[]? current, IReadOnlyCollection<string> remove)
    {
        var notes = new List<string>();
        var present = ClientServers.Read(client.Format, current, client.ConfigPath).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var removed = remove.Where(n => n != entry.Name && present.Contains(n)).Order(StringComparer.Ordinal).ToList();
        byte[] after;
        if (client.Format == ClientFormat.CodexToml)
        {
            // The entry first, so it lands beside the servers it replaces rather than at the end of the file.
            var toml = TomlTextEdit.Parse(current is null ? null : Encoding.UTF8.GetString(current), client.ConfigPath);
            toml.SetServer(entry.Name, ClientFormats.Snippet(ClientFormat.CodexToml, entry));
            foreach (var name in removed)
            {
                toml.RemoveServer(name);
            }

            after = Encoding.UTF8.GetBytes(toml.ToString());
        }
        else if (client.Format == ClientFormat.Goose)
        {
            var yaml = YamlTextEdit.Parse(current is null ? null : Encoding.UTF8.GetString(current), client.ConfigPath);
            yaml.SetEntry("extensions", entry.Name, indent => ClientFormats.GooseEntry(entry, indent));
            foreach (var name in removed)
            {
                yaml.RemoveEntry("extensions", name);
            }

            after = Encoding.UTF8.GetBytes(yaml.ToString());
        }
        else
        {
            var json = JsonTextEdit.Parse(current, client.ConfigPath);
            var container = ClientFormats.ContainerKey(client.Format);
            json.SetMember([container], entry.Name, ClientFormats.Entry(client.Format, entry));
            foreach (var name in removed)
            {
                json.RemoveMember([container], name);
            }

            if (client.Format is ClientFormat.GeminiSettings or ClientFormat.Qwen)
            {
                AllowInGemini(json, client, entry, notes);
            }

            after = json.ToBytes();
        }

        return new ClientRender(current, after, removed, notes);
    }

    /// <summary>
    /// Takes the broker's entry out of a client's file and puts back the servers an <c>apply --remove-others</c> took
    /// out (each as the file wrote it before that apply: <paramref name="restore"/> maps a name to that file's bytes),
    /// leaving everything else — all the client wrote since — as it is. A server the file has again is not touched.
    /// For Gemini CLI and Qwen Code the entry's name leaves <c>mcp.allowed</c> too.
    /// </summary>
    public static ClientRender Unwire(ClientModel client, byte[]? current, IReadOnlyDictionary<string, byte[]> restore)
    {
        var restored = new List<string>();
        var present = ClientServers.Read(client.Format, current, client.ConfigPath).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var removed = present.Contains(client.EntryName) ? [client.EntryName] : new List<string>();
        var back = restore.Where(r => !present.Contains(r.Key)).OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        byte[] after;
        if (client.Format == ClientFormat.CodexToml)
        {
            var toml = TomlTextEdit.Parse(current is null ? null : Encoding.UTF8.GetString(current), client.ConfigPath);
            toml.RemoveServer(client.EntryName);
            foreach (var (name, from) in back)
            {
                if (TomlTextEdit.Parse(Encoding.UTF8.GetString(from), client.ConfigPath).ServerText(name) is { } table)
                {
                    toml.SetServer(name, table);
                    restored.Add(name);
                }
            }

            after = Encoding.UTF8.GetBytes(toml.ToString());
        }
        else if (client.Format == ClientFormat.Goose)
        {
            var yaml = YamlTextEdit.Parse(current is null ? null : Encoding.UTF8.GetString(current), client.ConfigPath);
            yaml.RemoveEntry("extensions", client.EntryName);
            foreach (var (name, from) in back)
            {
                if (YamlTextEdit.Parse(Encoding.UTF8.GetString(from), client.ConfigPath).EntryText("extensions", name) is { } lines)
                {
                    yaml.SetEntry("extensions", name, indent => string.Concat(lines.Split('\n').Where(l => l.Length > 0).Select(l => indent + l + "\n")));
                    restored.Add(name);
                }
            }

            after = Encoding.UTF8.GetBytes(yaml.ToString());
        }
        else
        {
            var json = JsonTextEdit.Parse(current, client.ConfigPath);
            var container = ClientFormats.ContainerKey(client.Format);
            json.RemoveMember([container], client.EntryName);
            foreach (var (name, from) in back)
            {
                var saved = JsonTextEdit.Parse(from, client.ConfigPath);
                if (saved.Find(container, name) is { } node
                    && JsonNode.Parse(saved.Text(node), documentOptions: new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) is { } value)
                {
                    json.SetMember([container], name, value);
                    restored.Add(name);
                }
            }

            if (client.Format is ClientFormat.GeminiSettings or ClientFormat.Qwen && json.Find("mcp", "allowed") is { Kind: JsonValueKind.Array } allowed
                && allowed.Items.Any(i => json.StringAt(i) == client.EntryName))
            {
                json.Replace(allowed, new JsonArray([.. allowed.Items.Select(i => json.StringAt(i)).Where(n => n != client.EntryName).Select(n => (JsonNode?)n)]));
            }

            after = json.ToBytes();
        }

        return new ClientRender(current, after, removed, []) { Restored = restored };
    }

    /// <summary>
    /// Gemini CLI (and Qwen Code, its fork) starts only the servers in <c>mcp.allowed</c> when that list exists, and never
    /// one in <c>mcp.excluded</c>. An existing list gets the broker's entry (and <c>mcp_allowed_servers</c>); a file without
    /// one gets one only when <c>mcp_allowed_servers</c> asks for it, since creating it would block every other server.
    /// </summary>
    private static void AllowInGemini(JsonTextEdit json, ClientModel client, ClientEntry entry, List<string> notes)
    {
        var wanted = (client.McpAllowedServers ?? []).Append(entry.Name).Distinct(StringComparer.Ordinal).ToList();
        switch (json.Find("mcp", "allowed"))
        {
            case { Kind: JsonValueKind.Array } allowed:
                var have = allowed.Items.Select(i => json.StringAt(i)).ToHashSet(StringComparer.Ordinal);
                json.Append(allowed, [.. wanted.Where(n => !have.Contains(n))]);
                break;
            case { } other:
                throw new ClientConfigException($"{client.ConfigPath}: mcp.allowed is a JSON {other.Kind.ToString().ToLowerInvariant()}, not a list of server names: fix it by hand first");
            case null when client.McpAllowedServers is not null:
                json.SetMember(["mcp"], "allowed", new JsonArray([.. wanted.Select(n => (JsonNode)n)]));
                break;
        }

        if (json.Find("mcp", "excluded") is { Kind: JsonValueKind.Array } excluded && excluded.Items.Any(i => json.StringAt(i) == entry.Name))
        {
            notes.Add($"mcp.excluded lists '{entry.Name}', so {(client.Format == ClientFormat.Qwen ? "Qwen Code" : "Gemini CLI")} will not start the broker: remove it from that list");
        }
    }
}
