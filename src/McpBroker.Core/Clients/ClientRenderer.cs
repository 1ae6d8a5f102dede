using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Clients;

/// <summary>What a client's config file would hold after the broker's entry is merged in.</summary>
internal sealed record ClientRender(byte[]? Before, byte[] After, IReadOnlyList<string> Removed, IReadOnlyList<string> Notes)
{
    public bool Changed => Before is null || !Before.AsSpan().SequenceEqual(After);
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
        else
        {
            var json = JsonTextEdit.Parse(current, client.ConfigPath);
            var container = ClientFormats.ContainerKey(client.Format);
            json.SetMember([container], entry.Name, ClientFormats.Entry(client.Format, entry));
            foreach (var name in removed)
            {
                json.RemoveMember([container], name);
            }

            if (client.Format == ClientFormat.GeminiSettings)
            {
                AllowInGemini(json, client, entry, notes);
            }

            after = json.ToBytes();
        }

        return new ClientRender(current, after, removed, notes);
    }

    /// <summary>
    /// Gemini CLI starts only the servers in <c>mcp.allowed</c> when that list exists, and never one in
    /// <c>mcp.excluded</c>. An existing list gets the broker's entry (and <c>mcp_allowed_servers</c>); a file without
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
            notes.Add($"mcp.excluded lists '{entry.Name}', so Gemini CLI will not start the broker: remove it from that list");
        }
    }
}
