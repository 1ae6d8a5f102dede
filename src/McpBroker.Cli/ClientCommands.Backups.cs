using System.Text.Json.Nodes;
using McpBroker.Clients;

namespace McpBroker.Cli;

/// <summary>The copies of a client's file kept under <c>{runtime.root}/backups/clients/</c>: <c>backup</c>, <c>backups</c>, <c>rollback</c>.</summary>
internal sealed partial class ClientCommands
{
    /// <summary><c>client backup NAME</c>: save the file as it is now.</summary>
    public int Backup(string? configOption, string name) => Run(configOption, name, (model, client) =>
    {
        var backup = Backups(model, client).Backup(client.ConfigPath, "manual");
        output.WriteLine(backup.Existed
            ? $"backup {backup.Id}: {client.ConfigPath} ({backup.Bytes} bytes)"
            : $"backup {backup.Id}: {client.ConfigPath} does not exist (a rollback to this removes it)");
        return ExitCodes.Ok;
    });

    /// <summary><c>client backups NAME</c>: list the backups, oldest first.</summary>
    public int List(string? configOption, string name, bool json = false) => Run(configOption, name, (model, client) =>
    {
        var backups = Backups(model, client).List();
        if (json)
        {
            output.WriteLine(new JsonObject
            {
                ["client"] = client.Name,
                ["config_path"] = client.ConfigPath,
                ["backups"] = new JsonArray([.. backups.Select(b => (JsonNode)new JsonObject
                {
                    ["id"] = b.Id,
                    ["created"] = b.Created.ToUniversalTime(),
                    ["existed"] = b.Existed,
                    ["bytes"] = b.Existed ? b.Bytes : (long?)null,
                    ["reason"] = b.Reason,
                    ["also"] = new JsonArray([.. (b.Also ?? []).Select(f => (JsonNode?)f.Path)]),
                })]),
            }.ToJsonString());
            return ExitCodes.Ok;
        }

        if (backups.Count == 0)
        {
            output.WriteLine($"no backups of {client.ConfigPath} yet (apply makes one; so does 'client backup {client.Name}')");
            return ExitCodes.Ok;
        }

        output.WriteLine($"{"ID",-24} {"CREATED (UTC)",-20} {"SIZE",10}  REASON");
        foreach (var b in backups)
        {
            output.WriteLine($"{b.Id,-24} {b.Created.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss} {(b.Existed ? $"{b.Bytes} B" : "absent"),10}  {b.Reason}"
                + (b.Also is { Count: > 0 } also ? $" (+{also.Count} more file(s): {string.Join(", ", also.Select(f => f.Path))})" : ""));
        }

        return ExitCodes.Ok;
    });

    /// <summary>
    /// <c>client rollback NAME [--to ID]</c>: restore a backup byte for byte (default: the newest one not made by a
    /// rollback), after backing up the file as it is now, so a rollback can be undone too.
    /// </summary>
    public int Rollback(string? configOption, string name, string? id, bool force = false) => Run(configOption, name, (model, client) =>
    {
        var files = Backups(model, client);
        var backups = files.List();
        var target = id is null
            ? backups.LastOrDefault(b => b.Reason != "before rollback")
            : backups.FirstOrDefault(b => b.Id == id);
        if (target is null)
        {
            error.WriteLine(id is null
                ? $"mcp-broker: no backups of {client.ConfigPath} to roll back to"
                : $"mcp-broker: no backup '{id}' for client '{client.Name}'; 'mcp-broker client backups {client.Name}' lists them");
            return ExitCodes.Failure;
        }

        // The client may have written its file since the broker last did (Claude Code rewrites ~/.claude.json as it
        // runs): restoring would silently lose that, so say what would go and stop unless told to go on.
        var current = ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath));
        if (backups.LastOrDefault(b => b.WrittenSha256 is not null && b.Path == client.ConfigPath) is { } last && last.WrittenSha256 != ClientFiles.Hash(current))
        {
            var written = files.Written(last);
            var lost = ClientChanges.Describe(client.Format, written, current);
            if (!force)
            {
                error.WriteLine($"mcp-broker: {client.ConfigPath} changed since mcp-broker wrote it (backup {last.Id}, {last.Reason}); rolling back to backup {target.Id} would discard what was written since: {string.Join(", ", lost)}");
                error.WriteLine($"'mcp-broker client remove {client.Name}' takes out only the broker's entry and keeps the rest; 'mcp-broker client rollback {client.Name} --force' rolls back anyway (the file as it is now is backed up first)");
                return ExitCodes.Failure;
            }

            output.WriteLine($"--force: discarding what was written since backup {last.Id}: {string.Join(", ", lost)}");
        }

        // The files as they are now, every one the target holds (a hosted-app policy backs up Codex's caches too).
        var before = files.Backup(client.ConfigPath, "before rollback", [.. (target.Also ?? []).Select(f => f.Path)]);
        files.Restore(target);
        files.RecordWrite(before, files.Saved(target));
        foreach (var file in target.Files)
        {
            output.WriteLine(file.Existed
                ? $"restored {file.Path} from backup {target.Id} ({file.Bytes} bytes, {target.Reason})"
                : $"removed {file.Path}: it did not exist at backup {target.Id}");
        }

        output.WriteLine(before.Files.Count == 1
            ? $"the file as it was just now is backup {before.Id}"
            : $"the files as they were just now are backup {before.Id}");
        return ExitCodes.Ok;
    });
}
