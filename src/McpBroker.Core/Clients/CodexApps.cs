using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Measure;

namespace McpBroker.Clients;

/// <summary>One file a hosted-app policy would change: its bytes before and after, and what changes, in words.</summary>
internal sealed record AppsFileChange(string Path, byte[]? Before, byte[] After, IReadOnlyList<string> Lines);

/// <summary>
/// What a Codex hosted-app policy would do: the files it changes (config.toml, app directory and tools-cache files),
/// notes about rules that matched nothing, and the hosted tool definitions in the tools caches now and after.
/// </summary>
internal sealed record AppsPlan(IReadOnlyList<AppsFileChange> Changes, IReadOnlyList<string> Notes, int CacheFiles, Cost Before, Cost After);

/// <summary>
/// Codex loads hosted apps ("connectors", served through its built-in <c>codex_apps</c> MCP server) beside the MCP
/// servers in config.toml, and caches what they offer under its home: the app directory
/// (<c>cache/codex_app_directory/*.json</c>: <c>{"schema_version", "expires_at_unix_ms", "connectors": [{id, name,
/// isEnabled, …}]}</c>) and their tool definitions (<c>cache/codex_apps_tools/*.json</c>: <c>{"schema_version",
/// "tools": [{server_name, tool_name, tool_namespace, tool: {MCP tool}, connector_id, connector_name, …}]}</c>). A
/// connector whose tools the broker already serves costs the model its definitions twice. The policy switches such
/// connectors off where Codex reads it (<c>[apps.ID] enabled = false</c> in config.toml), marks them disabled in the
/// directory and takes their tools out of the tools caches, so the next session does not load them from the cache
/// before Codex has read its config. Files are parsed with System.Text.Json and written back indented as Codex writes
/// them; a file that is not the expected shape is refused with its path, and nothing is written.
/// </summary>
internal static class CodexApps
{
    private static readonly JsonSerializerOptions s_write = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The files the globs name now, in ordinal order; wildcards are in file names only (the validator sees to it).</summary>
    public static IReadOnlyList<string> Files(IEnumerable<string> globs) =>
        [.. globs.SelectMany(glob => Path.GetDirectoryName(glob) is { } dir && Directory.Exists(dir)
                ? Directory.EnumerateFiles(dir).Where(f => Globs.Match(Path.GetFileName(glob), Path.GetFileName(f)))
                : [])
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];

    public static AppsPlan Plan(ClientModel client, CodexAppsPolicyModel policy)
    {
        var changes = new List<AppsFileChange>();
        var notes = new List<string>();
        var rules = policy.DisableConnectors;
        var matched = new HashSet<ConnectorRule>();
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        void Matched(ConnectorRule rule, string? id)
        {
            matched.Add(rule);
            if (id is not null)
            {
                ids.Add(id);
            }
        }

        foreach (var glob in policy.AppDirectory.Concat(policy.ToolsCache).Where(g => Files([g]).Count == 0))
        {
            notes.Add($"no file matches {glob} (Codex writes it once it has listed its apps; set the glob if your Codex keeps them elsewhere)");
        }

        foreach (var path in Files(policy.AppDirectory))
        {
            var (before, root) = ReadJson(path);
            var connectors = root["connectors"] as JsonArray
                ?? throw new ClientConfigException($"{path}: has no \"connectors\" list, so it is not a Codex app directory cache; fix codex_apps_policy.app_directory");
            var lines = new List<string>();
            foreach (var connector in connectors.OfType<JsonObject>())
            {
                var (id, name) = (Text(connector["id"]), Text(connector["name"]));
                if (rules.FirstOrDefault(r => r.Matches(id, name)) is not { } rule)
                {
                    continue;
                }

                Matched(rule, id);
                var key = connector.ContainsKey("is_enabled") && !connector.ContainsKey("isEnabled") ? "is_enabled" : "isEnabled";
                if (connector[key] is JsonValue v && v.TryGetValue<bool>(out var enabled) && !enabled)
                {
                    continue;
                }

                connector[key] = false;
                lines.Add($"disable {Label(id, name)}: {rule.Reason}");
            }

            if (lines.Count > 0)
            {
                changes.Add(new AppsFileChange(path, before, Write(root, before), lines));
            }
        }

        var kept = new List<JsonNode?>();
        var all = new List<JsonNode?>();
        var cacheFiles = Files(policy.ToolsCache);
        foreach (var path in cacheFiles)
        {
            var (before, root) = ReadJson(path);
            var tools = root["tools"] as JsonArray
                ?? throw new ClientConfigException($"{path}: has no \"tools\" list, so it is not a Codex apps tools cache; fix codex_apps_policy.tools_cache");
            var removed = new List<(string Label, string Tool)>();
            foreach (var (entry, i) in tools.ToList().Select((e, i) => (e, i)))
            {
                if (entry is not JsonObject cached)
                {
                    throw new ClientConfigException($"{path}: tools[{i}] is not an object, so it is not a Codex apps tools cache; fix or delete it (Codex rebuilds its caches)");
                }

                var definition = cached["tool"];
                all.Add(definition);
                var (id, name) = (Text(cached["connector_id"]), Text(cached["connector_name"]));
                if (rules.FirstOrDefault(r => r.Matches(id, name)) is { } rule)
                {
                    Matched(rule, id);
                    removed.Add((Label(id, name), Text((definition as JsonObject)?["name"]) ?? Text(cached["tool_name"]) ?? "?"));
                    tools.Remove(entry);
                }
                else
                {
                    kept.Add(definition);
                }
            }

            if (removed.Count > 0)
            {
                var lines = removed.GroupBy(r => r.Label)
                    .Select(g => $"remove {g.Count()} tool(s) of {g.Key}: {string.Join(", ", g.Select(r => r.Tool))}")
                    .ToList();
                changes.Add(new AppsFileChange(path, before, Write(root, before), lines));
            }
        }

        foreach (var rule in rules.Where(r => r.Id is not null))
        {
            ids.Add(rule.Id!);
        }

        foreach (var rule in rules.Where(r => !matched.Contains(r)))
        {
            notes.Add(rule.Id is null
                ? $"{rule} matches no connector in the files read, and without an id it cannot be switched off in {client.ConfigPath}; add its id"
                : $"{rule} matches no connector in the files read (it is switched off in {client.ConfigPath} all the same)");
        }

        var config = ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath));
        var toml = TomlTextEdit.Parse(config is null ? null : Encoding.UTF8.GetString(config), client.ConfigPath);
        var disabled = ids.Where(toml.DisableApp).ToList();
        if (disabled.Count > 0)
        {
            changes.Insert(0, new AppsFileChange(client.ConfigPath, config, Encoding.UTF8.GetBytes(toml.ToString()),
                [.. disabled.Select(id => $"[apps.{id}] enabled = false")]));
        }

        return new AppsPlan(changes, notes, cacheFiles.Count, ContextCost.OfDefinitions(all), ContextCost.OfDefinitions(kept));
    }

    /// <summary>
    /// Writes the plan: every file to change backed up first under one backup id (config.toml as the main file), then
    /// each written atomically and refused if it changed since the plan read it (Codex wrote it meanwhile). If a write
    /// fails, the files already written are put back from the backup, the others keep whatever they hold now, the
    /// backup is dropped (it would only undo nothing), and the error says so.
    /// </summary>
    public static FileBackup Apply(AppsPlan plan, ClientModel client, ClientFiles files)
    {
        var backup = files.Backup(client.ConfigPath, "before apps-policy", [.. plan.Changes.Select(c => c.Path).Where(p => p != client.ConfigPath)]);
        var written = new List<AppsFileChange>();
        try
        {
            foreach (var change in plan.Changes)
            {
                ClientFiles.WriteAtomic(change.Path, change.After, expectedHash: ClientFiles.Hash(change.Before));
                written.Add(change);
            }
        }
        catch (Exception e) when (e is ClientConfigException or IOException or UnauthorizedAccessException)
        {
            // Put back only what still holds this command's bytes: a file Codex rewrote since keeps Codex's.
            var ours = written.Where(c => ClientFiles.Hash(ClientFiles.Read(c.Path)) == ClientFiles.Hash(c.After)).Select(c => c.Path).ToList();
            try
            {
                files.Restore(backup, ours);
            }
            catch (Exception restoreFailed) when (restoreFailed is ClientConfigException or IOException or UnauthorizedAccessException)
            {
                throw new ClientConfigException($"{e.Message.TrimEnd('.')}; putting back the files written before it failed too ({restoreFailed.Message.TrimEnd('.')}): "
                    + $"backup {backup.Id} holds them as they were; run 'mcp-broker client rollback {client.Name} --to {backup.Id}'");
            }

            files.Forget(backup);
            var skipped = written.Count - ours.Count;
            throw new ClientConfigException(e.Message.TrimEnd('.')
                + (written.Count == 0 ? "; no file was changed" : $"; {ours.Count} file(s) this command had already written were put back as they were")
                + (skipped == 0 ? "" : $", {skipped} that Codex rewrote meanwhile keep Codex's bytes"));
        }

        return backup;
    }

    /// <summary>The plan in words: per file what changes, notes, and the hosted tool definitions before and after.</summary>
    public static IEnumerable<string> Describe(AppsPlan plan)
    {
        foreach (var change in plan.Changes)
        {
            yield return $"{change.Path}:";
            foreach (var line in change.Lines)
            {
                yield return $"  {line}";
            }
        }

        foreach (var note in plan.Notes)
        {
            yield return $"note: {note}";
        }

        yield return plan.CacheFiles == 0
            ? "hosted-app tool definitions: no tools cache file found"
            : $"hosted-app tool definitions in {plan.CacheFiles} cache file(s): {plan.Before.Tools} now, {plan.After.Tools} with the policy"
              + $" ({plan.Before.Tokens:N0} -> {plan.After.Tokens:N0} o200k tokens, -{ContextCost.Reduction(plan.Before.Tokens, plan.After.Tokens)} %)";
    }

    private static (byte[] Bytes, JsonObject Root) ReadJson(string path)
    {
        var bytes = File.ReadAllBytes(path);
        try
        {
            return (bytes, JsonNode.Parse(bytes) as JsonObject ?? throw new ClientConfigException($"{path}: is not a JSON object; fix or delete it (Codex rebuilds its caches)"));
        }
        catch (JsonException e)
        {
            throw new ClientConfigException($"{path}: not valid JSON ({e.Message}); fix or delete it (Codex rebuilds its caches)");
        }
    }

    /// <summary>Indented as Codex writes it (two spaces), with a final line break only where the file had one.</summary>
    private static byte[] Write(JsonObject root, byte[] before)
    {
        var text = root.ToJsonString(s_write);
        if (before.Length > 0 && before[^1] == (byte)'\n')
        {
            text += before.Length > 1 && before[^2] == (byte)'\r' ? "\r\n" : "\n";
        }

        return Encoding.UTF8.GetBytes(before.Length > 1 && before.AsSpan().IndexOf("\r\n"u8) >= 0 ? text.ReplaceLineEndings("\r\n") : text);
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static string Label(string? id, string? name) => name is not null && id is not null ? $"{name} ({id})" : name ?? id ?? "(unnamed)";
}
