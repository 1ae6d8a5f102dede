using System.Text;
using McpBroker.Clients;
using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary>
/// Wiring: the entry a client gets (<c>snippet</c>), the file with it (<c>render</c>, <c>apply</c>) and without it
/// (<c>remove</c>), and how a client starts the shim.
/// </summary>
internal sealed partial class ClientCommands
{
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
