using System.Text;
using McpBroker.Clients;
using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary>What only a Codex client has: its hosted-app policy (<c>apps-policy</c>) and the session check of deferred tools (<c>acceptance</c>).</summary>
internal sealed partial class ClientCommands
{
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
}
