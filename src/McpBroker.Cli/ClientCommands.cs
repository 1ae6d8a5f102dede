using System.CommandLine;
using McpBroker.Clients;
using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker client …</c>: wiring clients to the broker. Every command that writes backs the file up first and
/// writes atomically; <c>render</c> writes nothing but its own copy under <c>{runtime.root}/renders/</c>.
/// Exit codes: 0 done (or nothing to do), 1 failed with nothing changed, 2 usage.
/// </summary>
internal sealed partial class ClientCommands(TextWriter output, TextWriter error)
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
}
