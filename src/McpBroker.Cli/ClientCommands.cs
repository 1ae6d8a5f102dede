using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using McpBroker.Clients;
using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker client …</c>: wiring clients to the broker. Every command that writes backs the file up first and
/// writes atomically; <c>render</c> writes nothing but its own copy under <c>{runtime.root}/renders/</c>.
/// Exit codes: 0 done (or nothing to do), 1 failed with nothing changed, 2 usage.
/// </summary>
internal sealed class ClientCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>client detect|render|apply|remove|backup|backups|rollback|import|snippet|apps-policy|acceptance</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        ClientCommands Handler(ParseResult r) => new(r.Output(), r.Error());

        var detectJson = CommonOptions.Json();
        var detect = new Command("detect", "List the agent clients installed here and whether each is wired") { detectJson };
        detect.SetAction(r => Handler(r).Detect(r.GetValue(config), r.GetValue(detectJson)));

        var removeOthers = new Option<bool>("--remove-others") { Description = "Also remove the client's other servers that the broker config runs (after 'client import')" };
        var renderName = CommonOptions.ClientName();
        var exposure = new Option<string>("--exposure")
        {
            Description = "What the client lists: facade (the four broker tools, kept loaded) or raw (the namespaced upstream tools)",
            HelpName = "facade|raw",
        };
        exposure.AcceptOnlyFromAmong("facade", "raw");
        var render = new Command("render", "Show what apply would write, changing nothing") { renderName, removeOthers, exposure };
        render.SetAction(r => Handler(r).Render(r.GetValue(config), r.GetValue(renderName)!, r.GetValue(removeOthers), r.GetValue(exposure)));

        var applyName = CommonOptions.ClientName();
        var applyDryRun = CommonOptions.DryRun("Do what 'client render' does: save what apply would write under {runtime.root}/renders/ and print the diff; the client's file is not touched");
        var apply = new Command("apply", "Write the broker's entry into the client's config file, backing it up first") { applyName, removeOthers, applyDryRun, exposure };
        apply.SetAction(r => r.GetValue(applyDryRun)
            ? Handler(r).Render(r.GetValue(config), r.GetValue(applyName)!, r.GetValue(removeOthers), r.GetValue(exposure))
            : Handler(r).Apply(r.GetValue(config), r.GetValue(applyName)!, r.GetValue(removeOthers), r.GetValue(exposure)));

        var removeName = CommonOptions.ClientName();
        var removeDryRun = CommonOptions.DryRun("Print the diff; write nothing");
        var remove = new Command("remove", "Take only the broker's entry out of the client's config file") { removeName, removeDryRun };
        remove.SetAction(r => Handler(r).Remove(r.GetValue(config), r.GetValue(removeName)!, r.GetValue(removeDryRun)));

        var backupName = CommonOptions.ClientName();
        var backup = new Command("backup", "Save the client's config file as it is now") { backupName };
        backup.SetAction(r => Handler(r).Backup(r.GetValue(config), r.GetValue(backupName)!));

        var backupsName = CommonOptions.ClientName();
        var backupsJson = CommonOptions.Json("Print one JSON object: the file and each backup of it");
        var backups = new Command("backups", "List the saved copies of the client's config file") { backupsName, backupsJson };
        backups.SetAction(r => Handler(r).List(r.GetValue(config), r.GetValue(backupsName)!, r.GetValue(backupsJson)));

        var rollbackName = CommonOptions.ClientName();
        var rollbackTo = new Option<string?>("--to") { Description = "Backup ID (default: the newest one not made by a rollback)", HelpName = "ID" };
        var rollbackForce = new Option<bool>("--force") { Description = "Roll back even though the client wrote the file since the broker last did (what it wrote is lost; the file as it is now is backed up first)" };
        var rollback = new Command("rollback", "Restore the client's config file byte for byte from a backup") { rollbackName, rollbackTo, rollbackForce };
        rollback.SetAction(r => Handler(r).Rollback(r.GetValue(config), r.GetValue(rollbackName)!, r.GetValue(rollbackTo), r.GetValue(rollbackForce)));

        var importName = CommonOptions.ClientName();
        var importDryRun = CommonOptions.DryRun("Print what would be added; write nothing");
        var import = new Command("import", "Add the client's other MCP servers to the broker config as upstreams") { importName, importDryRun };
        import.SetAction(r => Handler(r).Import(r.GetValue(config), r.GetValue(importName)!, r.GetValue(importDryRun)));

        var snippetFormat = new Option<string>("--format")
        {
            Description = $"Client config format ({string.Join(", ", ClientFormats.Names)}) or a known client's name (claude, codex, gemini, …)",
            HelpName = "FORMAT",
            Required = true,
        };
        var snippetProfile = CommonOptions.Profile("Profile the client connects with", "default");
        var snippetName = new Option<string>("--name") { Description = "Server entry name in the client", HelpName = "NAME", DefaultValueFactory = _ => "mcp-broker" };
        var snippet = new Command("snippet", "Print the broker's server entry for a client's config file") { snippetFormat, snippetProfile, snippetName };
        snippet.SetAction(r => Handler(r).Snippet(r.GetValue(config), r.GetValue(snippetFormat)!, r.GetValue(snippetProfile)!, r.GetValue(snippetName)!));

        var appsPolicyName = CommonOptions.ClientName();
        var appsPolicyApply = new Option<bool>("--apply") { Description = "Write the changes (every file backed up first under one backup id; 'client rollback' undoes them); without it they are printed" };
        var appsPolicyDryRun = CommonOptions.DryRun("Print the changes and write nothing (the default)");
        var appsPolicy = new Command("apps-policy", "Codex: disable the hosted apps its codex_apps_policy names (a dry run unless --apply)") { appsPolicyName, appsPolicyApply, appsPolicyDryRun };
        appsPolicy.SetAction(CommonOptions.Unless(appsPolicyApply, appsPolicyDryRun,
            (r, _) => Task.FromResult(Handler(r).AppsPolicy(r.GetValue(config), r.GetValue(appsPolicyName)!, r.GetValue(appsPolicyApply)))));

        var acceptanceName = CommonOptions.ClientName();
        var acceptanceProfile = CommonOptions.OptionalProfile("Profile to check (default: the client's)");
        var acceptanceJson = CommonOptions.Json();
        var acceptance = new Command("acceptance", "Codex: list the calls that check the broker's deferred tools in a session") { acceptanceName, acceptanceProfile, acceptanceJson };
        acceptance.SetAction(r => Handler(r).Acceptance(r.GetValue(config), r.GetValue(acceptanceName)!, r.GetValue(acceptanceProfile), r.GetValue(acceptanceJson)));

        return new Command("client", "Wire MCP clients to the broker") { detect, render, apply, remove, backup, backups, rollback, import, snippet, appsPolicy, acceptance };
    }

    /// <summary>
    /// <c>client snippet</c>: the broker entry for a client, to paste by hand — the shim with absolute paths, the
    /// profile, and <c>--config</c> when the config is not the default one the shim would find by itself.
    /// </summary>
    public int Snippet(string? configOption, string format, string profile, string name)
    {
        // A format's name, or a known client's (claude, qwen, …).
        if ((ClientFormats.Parse(format) ?? KnownClients.Find(format)?.Format) is not { } parsed)
        {
            error.WriteLine($"mcp-broker: unknown format '{format}'; known: {string.Join(", ", ClientFormats.Names)}");
            return ExitCodes.Usage;
        }

        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (!model.Profiles.ContainsKey(profile))
        {
            error.WriteLine($"mcp-broker: no profile named '{profile}' in {model.SourcePath}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return ExitCodes.Failure;
        }

        error.WriteLine($"# {ClientFormats.Name(parsed)}: merge this into {ClientModel.DefaultPath(parsed)}");
        var exposure = ClientExposure.Choose(parsed, model.Profiles[profile], null, null, out _)!;
        output.Write(ClientFormats.Snippet(parsed, Entry(model, profile, name, ClientFormats.ClientName(parsed), exposure)));
        return ExitCodes.Ok;
    }

    /// <summary><c>client render NAME</c>: the file as apply would write it, saved under renders/, and the diff.</summary>
    public int Render(string? configOption, string name, bool removeOthers, string? exposure = null) => Run(configOption, name, (model, client) =>
    {
        var (render, _, _, choice) = Plan(model, client, removeOthers, ClientExposure.Parse(exposure));
        error.WriteLine($"exposure: {ClientExposure.Name(choice.Exposure)} ({choice.Reason})");
        var target = Path.Combine(model.Runtime.Root, "renders", client.Name, Path.GetFileName(client.ConfigPath));
        ClientFiles.WriteAtomic(target, render.After);
        PrintDiff(client, render);
        error.WriteLine(render.Changed
            ? $"rendered to {target}; 'mcp-broker client apply {client.Name}{(removeOthers ? " --remove-others" : "")}' writes it (with a backup)"
            : $"{client.ConfigPath} is up to date (render in {target})");
        return ExitCodes.Ok;
    });

    /// <summary><c>client apply NAME</c>: back up, then write the render atomically.</summary>
    public int Apply(string? configOption, string name, bool removeOthers, string? exposure = null) => Run(configOption, name, (model, client) =>
    {
        var (render, kept, waiting, choice) = Plan(model, client, removeOthers, ClientExposure.Parse(exposure));
        output.WriteLine($"exposure: {ClientExposure.Name(choice.Exposure)} ({choice.Reason})");
        void Kept()
        {
            foreach (var server in kept)
            {
                output.WriteLine($"kept {server.Name}: the broker config has no upstream for it ('mcp-broker client import {client.Name}' adds it)");
            }

            foreach (var (server, upstream, missing, source) in waiting)
            {
                output.WriteLine($"kept {server.Name}: upstream '{upstream}' cannot start yet: {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} not set in {source}; set {(missing.Count == 1 ? "it" : "them")}, then 'mcp-broker client apply {client.Name} --remove-others' again");
            }
        }

        if (!render.Changed)
        {
            output.WriteLine($"{client.ConfigPath} is up to date; nothing written");
            Kept();
            return ExitCodes.Ok;
        }

        var files = Backups(model, client);
        var backup = files.Backup(client.ConfigPath, removeOthers ? "before apply --remove-others" : "before apply");
        ClientFiles.WriteAtomic(client.ConfigPath, render.After, expectedHash: ClientFiles.Hash(render.Before));
        backup = files.RecordWrite(backup, render.After, render.Removed);
        PrintDiff(client, render);
        output.WriteLine($"applied to {client.ConfigPath} (entry '{client.EntryName}', profile '{client.Profile}')"
            + (render.Removed.Count > 0 ? $"; removed {string.Join(", ", render.Removed)} (the broker runs them now)" : ""));
        Kept();
        output.WriteLine($"backup {backup.Id}; 'mcp-broker client remove {client.Name}' takes the entry out again (keeping what {client.Name} writes meanwhile)");
        return ExitCodes.Ok;
    });

    /// <summary>
    /// <c>client remove NAME</c>: the broker's entry out of the client's file, and the servers <c>apply --remove-others</c>
    /// took out put back (each from the backup made just before it went), everything else as the client left it. The
    /// file is backed up first, and the write is refused if the client writes the file meanwhile.
    /// </summary>
    public int Remove(string? configOption, string name, bool dryRun) => Run(configOption, name, (model, client) =>
    {
        var files = Backups(model, client);
        var current = ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath));
        if (current is null)
        {
            output.WriteLine($"{client.ConfigPath} does not exist; nothing to remove");
            return ExitCodes.Ok;
        }

        var restore = ToRestore(files, client);
        var render = ClientRenderer.Unwire(client, current, restore);
        if (!render.Changed)
        {
            output.WriteLine($"{client.ConfigPath} has no '{client.EntryName}' entry and nothing to put back; nothing written");
            return ExitCodes.Ok;
        }

        PrintDiff(client, render, "without mcp-broker");
        var what = (render.Removed.Count > 0 ? $"removed the entry '{client.EntryName}'" : $"no '{client.EntryName}' entry was left")
            + (render.Restored.Count > 0 ? $"; put back {string.Join(", ", render.Restored)} (taken out by 'apply --remove-others')" : "");
        if (dryRun)
        {
            output.WriteLine($"dry run: nothing written; would have {what}");
            return ExitCodes.Ok;
        }

        var backup = files.Backup(client.ConfigPath, "before remove");
        ClientFiles.WriteAtomic(client.ConfigPath, render.After, expectedHash: ClientFiles.Hash(current));
        files.RecordWrite(backup, render.After);
        output.WriteLine($"{client.ConfigPath}: {what}; everything else is as {client.Name} left it");
        output.WriteLine($"backup {backup.Id} holds the file as it was just before");
        return ExitCodes.Ok;
    });

    /// <summary>
    /// The servers each <c>apply --remove-others</c> took out, newest apply first, with the file as it was just before that
    /// apply (which still had them).
    /// </summary>
    private static Dictionary<string, byte[]> ToRestore(ClientFiles files, ClientModel client)
    {
        var restore = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var backup in files.List().Reverse().Where(b => b.Removed is { Count: > 0 } && b.Path == client.ConfigPath))
        {
            if (files.Saved(backup) is { } before)
            {
                foreach (var server in backup.Removed!)
                {
                    restore.TryAdd(server, before);
                }
            }
        }

        return restore;
    }

    /// <summary>
    /// <c>client detect</c>: every known client — installed here or not (its command on PATH, or its config folder),
    /// its usual config file found or not, and the broker's entry in it or not.
    /// </summary>
    public int Detect(string? configOption, bool json)
    {
        var entryName = ClientModel.DefaultEntryName;
        var detected = KnownClients.Detect(entryName);
        if (json)
        {
            var array = new System.Text.Json.Nodes.JsonArray([.. detected.Select(d => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = d.Client.Name,
                ["title"] = d.Client.Title,
                ["format"] = ClientFormats.Name(d.Client.Format),
                ["installed"] = d.Installed,
                ["command"] = d.Command,
                ["config_path"] = d.ConfigPath,
                ["config_found"] = d.FileExists,
                ["wired"] = d.Wired,
                ["problem"] = d.Problem,
            })]);
            output.WriteLine(array.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        }

        var home = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : null;
        string Short(string path) => home is not null && path.StartsWith(home + "/", StringComparison.Ordinal) ? "~" + path[home.Length..] : path;
        var installed = detected.Where(d => d.Installed).ToList();
        output.WriteLine(installed.Count == 0 ? "no known agent client found here" : $"{installed.Count} agent client(s) found here:");
        foreach (var d in installed)
        {
            var state = d.Problem is not null ? $"cannot read: {d.Problem}"
                : !d.FileExists ? "not found (apply creates it)"
                : d.Wired == true ? "wired" : "not wired";
            output.WriteLine($"  {d.Client.Name,-19} {d.Client.Title,-36} {Short(d.ConfigPath)}: {state}");
        }

        var absent = detected.Where(d => !d.Installed).Select(d => d.Client.Name).ToList();
        if (absent.Count > 0)
        {
            output.WriteLine($"not found: {string.Join(", ", absent)}");
        }

        output.WriteLine("'mcp-broker client apply NAME' wires one (no clients: section needed: its usual file, the default profile)");
        return ExitCodes.Ok;
    }

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

    /// <summary>
    /// <c>client apps-policy NAME [--apply]</c>: a Codex client's hosted-app policy. Without --apply it prints what would
    /// change (the config.toml diff, the connectors marked disabled, the tools taken out of each cache file) and writes
    /// nothing; with it, every file to change is backed up first under one backup id, then each is written atomically
    /// (refused if Codex wrote it meanwhile). If a write fails, the files it had written already are restored from that
    /// backup and the others are left as they are.
    /// </summary>
    public int AppsPolicy(string? configOption, string name, bool apply) => Run(configOption, name, (model, client) =>
    {
        if (client.Format != ClientFormat.CodexToml)
        {
            error.WriteLine($"mcp-broker: client '{client.Name}' is {ClientFormats.Name(client.Format)}; hosted-app policies are for codex-toml clients");
            return ExitCodes.Failure;
        }

        if (client.CodexAppsPolicy is not { } policy)
        {
            error.WriteLine($"mcp-broker: client '{client.Name}' has no codex_apps_policy; add one, e.g.\n  clients:\n    {client.Name}:\n      format: codex-toml\n      codex_apps_policy:\n        disable_connectors:\n          - {{ name: GitHub, reason: \"the broker serves github\" }}");
            return ExitCodes.Failure;
        }

        if (!policy.Enabled)
        {
            output.WriteLine($"clients.{client.Name}.codex_apps_policy.enabled is false: nothing to do");
            return ExitCodes.Ok;
        }

        var plan = CodexApps.Plan(client, policy);
        foreach (var change in plan.Changes.Where(c => c.Path == client.ConfigPath))
        {
            output.Write(UnifiedDiff.FormatRedacted(change.Before is null ? null : Encoding.UTF8.GetString(change.Before), Encoding.UTF8.GetString(change.After),
                client.ConfigPath, client.ConfigPath + " (with the policy)"));
        }

        foreach (var line in CodexApps.Describe(plan))
        {
            output.WriteLine(line);
        }

        if (plan.Changes.Count == 0)
        {
            output.WriteLine("nothing to change: the policy is applied already");
            return ExitCodes.Ok;
        }

        if (!apply)
        {
            output.WriteLine($"dry run: nothing written; 'mcp-broker client apps-policy {client.Name} --apply' writes it (with a backup)");
            return ExitCodes.Ok;
        }

        var files = Backups(model, client);
        var backup = CodexApps.Apply(plan, client, files);
        files.RecordWrite(backup, ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath))); // so rollback knows this write was ours
        output.WriteLine($"applied: {plan.Changes.Count} file(s) written; backup {backup.Id}; undo with 'mcp-broker client rollback {client.Name}'");
        return ExitCodes.Ok;
    });

    /// <summary>
    /// <c>client acceptance NAME [--profile P]</c>: for a Codex client, the calls to make inside a live Codex session to
    /// check the broker's deferred tools, from each visible upstream's smoke probe, under the names Codex shows the
    /// model. Computed from the config; nothing is started or called. Exit 1 when an upstream has no probe.
    /// </summary>
    public int Acceptance(string? configOption, string name, string? profileName, bool json) => Run(configOption, name, (model, client) =>
    {
        if (client.Format != ClientFormat.CodexToml)
        {
            error.WriteLine($"mcp-broker: client '{client.Name}' is {ClientFormats.Name(client.Format)}; acceptance steps are written for codex-toml clients");
            return ExitCodes.Failure;
        }

        var ownEntry = profileName is null;
        profileName ??= client.Profile;
        if (!model.Profiles.TryGetValue(profileName, out var profile))
        {
            error.WriteLine($"mcp-broker: no profile named '{profileName}' in {model.SourcePath}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return ExitCodes.Failure;
        }

        if (ownEntry)
        {
            // The client's entry may ask for the raw view (client apply --exposure raw): the steps follow what Codex lists.
            var entry = ClientServers.Read(client.Format, ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath)), client.ConfigPath).FirstOrDefault(s => s.Name == client.EntryName);
            profile = ClientExposure.AsSeenThrough(profile, entry?.Args);
        }

        var steps = CodexAcceptance.Steps(model, client, profile);
        if (json)
        {
            output.WriteLine(CodexAcceptance.Json(client, profile, steps).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var line in CodexAcceptance.Describe(client, profile, steps))
            {
                output.WriteLine(line);
            }
        }

        return steps.Any(s => s.Problem is not null) ? ExitCodes.Failure : ExitCodes.Ok;
    });

    /// <summary>
    /// <c>client import NAME</c>: the client's other servers become broker upstreams (broker.yaml backed up, then
    /// written atomically and validated first). The client's file is not touched: <c>apply --remove-others</c> does that.
    /// </summary>
    public int Import(string? configOption, string name, bool dryRun) => Run(configOption, name, (model, client) =>
    {
        var current = ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath));
        if (current is null)
        {
            error.WriteLine($"mcp-broker: {client.ConfigPath} does not exist; there is nothing to import");
            return ExitCodes.Failure;
        }

        var servers = ClientServers.Read(client.Format, current, client.ConfigPath);
        var configPath = model.SourcePath;
        var yamlBytes = File.ReadAllBytes(configPath);
        var plan = ClientImport.Plan(Encoding.UTF8.GetString(yamlBytes), model, client, Entry(model, client), servers);
        foreach (var line in plan.Lines)
        {
            output.WriteLine(line);
        }

        if (plan.Added.Count == 0)
        {
            output.WriteLine($"nothing to add to {configPath}");
            return ExitCodes.Ok;
        }

        var check = ConfigLoader.Load(plan.Yaml, configPath);
        if (!check.IsValid)
        {
            foreach (var issue in check.Errors)
            {
                error.WriteLine(issue);
            }

            error.WriteLine($"mcp-broker: the imported upstreams would make {configPath} invalid (errors above); nothing was written");
            return ExitCodes.Failure;
        }

        if (dryRun)
        {
            output.Write(UnifiedDiff.FormatRedacted(Encoding.UTF8.GetString(yamlBytes), plan.Yaml, configPath, configPath + " (imported)"));
            output.WriteLine("dry run: nothing written");
            return ExitCodes.Ok;
        }

        var backup = new ClientFiles(Path.Combine(model.Runtime.Root, "backups", "config"), TimeProvider.System).Backup(configPath, $"before import from {client.Name}");
        ClientFiles.WriteAtomic(configPath, Encoding.UTF8.GetBytes(plan.Yaml), expectedHash: ClientFiles.Hash(yamlBytes));
        output.WriteLine($"added {plan.Added.Count} upstream(s) to {configPath} (backup {backup.Id} under {Path.Combine(model.Runtime.Root, "backups", "config")})");
        output.WriteLine($"next: 'mcp-broker client apply {client.Name} --remove-others' points {client.Name} at the broker alone; a running daemon picks up new upstreams after 'mcp-broker daemon stop'");
        return ExitCodes.Ok;
    });

    /// <summary>The entry every client gets for <paramref name="profile"/>.</summary>
    public static ClientEntry Entry(BrokerModel model, string profile, string name, string client, ExposureChoice? exposure = null)
    {
        // A client starts the shim with its own environment (no MCP_BROKER_CONFIG, perhaps no XDG_CONFIG_HOME): name the
        // config unless it is the one the shim finds with neither.
        var args = new List<string> { "--profile", profile, "--client", client };
        var plainDefault = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "mcp-broker", "broker.yaml");
        if (Path.GetFullPath(model.SourcePath) != plainDefault)
        {
            args.AddRange(["--config", Path.GetFullPath(model.SourcePath)]);
        }

        var (command, prefix) = ShimCommand();
        var entry = new ClientEntry(name, command, [.. prefix, .. args]);
        return exposure is null ? entry : ClientExposure.Apply(entry, exposure);
    }

    private static ClientEntry Entry(BrokerModel model, ClientModel client) =>
        Entry(model, client.Profile, client.EntryName, ClientFormats.ClientName(client.Format));

    /// <summary>
    /// The render, and the client's other servers that stay. With <paramref name="removeOthers"/>, only servers the
    /// broker config already runs (same command and arguments, or URL) are removed: nothing the broker cannot serve is lost.
    /// </summary>
    private static (ClientRender Render, IReadOnlyList<ClientServer> Kept, IReadOnlyList<(ClientServer Server, string Upstream, IReadOnlyList<string> Missing, string Source)> Waiting,
        ExposureChoice Exposure) Plan(BrokerModel model, ClientModel client, bool removeOthers, ToolExposure? exposure)
    {
        var current = ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath));
        var present = ClientServers.Read(client.Format, current, client.ConfigPath);
        var choice = ClientExposure.Choose(client.Format, model.Profiles[client.Profile], exposure, present.FirstOrDefault(s => s.Name == client.EntryName)?.Args, out var refused)
            ?? throw new ClientConfigException(refused!);
        var entry = ClientExposure.Apply(Entry(model, client), choice);
        var others = present.Where(s => s.Name != entry.Name).ToList();
        var remove = new List<string>();
        var kept = new List<ClientServer>();
        var waiting = new List<(ClientServer, string, IReadOnlyList<string>, string)>();
        var environment = DaemonEnvironment(model);
        foreach (var server in removeOthers ? others : [])
        {
            if (ClientImport.IsBroker(server))
            {
                remove.Add(server.Name);
            }
            else if (ClientImport.Covering(model.Upstreams, server) is not { } upstream)
            {
                kept.Add(server);
            }
            else if (MissingCredentials(upstream, environment.Get) is { Count: > 0 } missing)
            {
                // The broker cannot start it yet: taking it out of the client now would lose a working server.
                waiting.Add((server, upstream.Name, missing, environment.Source));
            }
            else
            {
                remove.Add(server.Name);
            }
        }

        return (ClientRenderer.Render(client, entry, current, remove), kept, waiting, choice);
    }

    /// <summary>
    /// The environment a broker upstream will start with: the running daemon's (read from /proc where it can be), else
    /// this command's own, which is what a daemon started from here would have.
    /// </summary>
    private static (Func<string, string?> Get, string Source) DaemonEnvironment(BrokerModel model)
    {
        try
        {
            if (OperatingSystem.IsLinux() && File.Exists(model.Runtime.PidPath)
                && int.TryParse(File.ReadAllText(model.Runtime.PidPath).Trim(), out var pid) && File.Exists($"/proc/{pid}/environ"))
            {
                var variables = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
                    .Select(v => v.Split('=', 2)).Where(v => v.Length == 2).GroupBy(v => v[0]).ToDictionary(g => g.Key, g => g.Last()[1], StringComparer.Ordinal);
                return (name => variables.GetValueOrDefault(name), $"the running daemon's environment (pid {pid})");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return (Environment.GetEnvironmentVariable, "this shell's environment (no daemon runs; one started from here gets it)");
    }

    /// <summary>The credentials an upstream reads that are not there: env_from variables unset, env_files files missing.</summary>
    private static List<string> MissingCredentials(UpstreamModel upstream, Func<string, string?> getEnv) =>
    [
        .. upstream.EnvFrom.Where(e => string.IsNullOrEmpty(getEnv(e.Value))).Select(e => $"${e.Value}").Distinct(StringComparer.Ordinal),
        .. upstream.EnvFiles.Where(e => !File.Exists(e.Value)).Select(e => e.Value),
    ];

    private void PrintDiff(ClientModel client, ClientRender render, string label = "with mcp-broker")
    {
        output.Write(UnifiedDiff.FormatRedacted(render.Before is null ? null : Encoding.UTF8.GetString(render.Before), Encoding.UTF8.GetString(render.After),
            client.ConfigPath, client.ConfigPath + $" ({label})"));
        foreach (var note in render.Notes)
        {
            error.WriteLine($"note: {note}");
        }
    }

    private static ClientFiles Backups(BrokerModel model, ClientModel client) =>
        new(Path.Combine(model.Runtime.Root, "backups", "clients", client.Name), TimeProvider.System);

    /// <summary>Loads the config, finds the client, runs <paramref name="action"/>, and turns a bad file into one clear line.</summary>
    private int Run(string? configOption, string name, Func<BrokerModel, ClientModel, int> action)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (!model.Clients.TryGetValue(name, out var client))
        {
            // Not in the config: a known client, wired to its usual file with the default profile (no YAML needed).
            if (KnownClients.Find(name) is not { } known)
            {
                var defined = model.Clients.Keys.Order(StringComparer.Ordinal).ToList();
                error.WriteLine($"mcp-broker: no client named '{name}' in {model.SourcePath}"
                    + (defined.Count > 0 ? $"; defined: {string.Join(", ", defined)}" : "")
                    + $"; known clients: {string.Join(", ", KnownClients.All.Select(c => c.Name))} (or add it under clients: with a format and config_path)");
                return ExitCodes.Failure;
            }

            if (!model.Profiles.ContainsKey(ProfileModel.DefaultName))
            {
                error.WriteLine($"mcp-broker: {model.SourcePath} has no profile named '{ProfileModel.DefaultName}' for '{name}' to connect with; add one, or name the profile:\n  clients:\n    {name}:\n      format: {ClientFormats.Name(known.Format)}\n      profile: {model.Profiles.Keys.FirstOrDefault() ?? "PROFILE"}");
                return ExitCodes.Failure;
            }

            if (KnownClients.Implicit(known, name, ProfileModel.DefaultName, out var reason) is not { } implicitClient)
            {
                error.WriteLine($"mcp-broker: cannot name {known.Title}'s config file: {reason}");
                return ExitCodes.Failure;
            }

            client = implicitClient;
        }

        try
        {
            return action(model, client);
        }
        catch (ClientConfigException e)
        {
            error.WriteLine($"mcp-broker: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (IOException e)
        {
            error.WriteLine($"mcp-broker: {e.Message}; nothing was changed");
            return ExitCodes.Failure;
        }
        catch (UnauthorizedAccessException e)
        {
            error.WriteLine($"mcp-broker: {e.Message}; nothing was changed");
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// How a client starts the shim: MCP_BROKER_CLIENT when set; for a .NET tool install (one command per package,
    /// a versioned folder) a separately installed mcp-broker-client tool, else 'mcp-broker shim' through the tool's
    /// stable launcher; otherwise the shim beside this CLI (how both are published), else the name for PATH to resolve.
    /// </summary>
    internal static (string Command, string[] Prefix) ShimCommand()
    {
        var name = OperatingSystem.IsWindows() ? "mcp-broker-client.exe" : "mcp-broker-client";
        if (Environment.GetEnvironmentVariable("MCP_BROKER_CLIENT") is { Length: > 0 } explicitShim)
        {
            return (explicitShim, []);
        }

        var sep = Path.DirectorySeparatorChar;
        if (AppContext.BaseDirectory.Contains($"{sep}.store{sep}", StringComparison.Ordinal))
        {
            var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
            return onPath is not null ? (onPath, []) : (Environment.ProcessPath!, ["shim"]);
        }

        var beside = Path.Combine(AppContext.BaseDirectory, name);
        return File.Exists(beside) ? (beside, []) : ("mcp-broker-client", []);
    }
}
