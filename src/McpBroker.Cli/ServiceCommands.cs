using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Platform;
using McpBroker.Service;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker service install|uninstall|load|unload|status [--platform P] [--socket-activation] [--apply]</c>: the
/// daemon as a per-user service. A dry run by default: every file it would write (in full) and every command it would
/// run. With --apply (only for this machine's platform) it backs up each file it replaces or removes under
/// {runtime.root}/backups/service/, writes atomically, and runs the commands, stopping at the first that fails.
/// <c>status</c> always runs: whether the files are installed and current, and the platform's own view.
/// </summary>
internal sealed class ServiceCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>service install|uninstall|load|unload|status</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var platform = new Option<string?>("--platform") { Description = "systemd, launchd or windows (default: this machine's)", HelpName = "PLATFORM" };
        var apply = new Option<bool>("--apply") { Description = "Do it: back up replaced files, write them, run the commands (only for this machine's platform); without it the plan is printed" };
        var dryRun = CommonOptions.DryRun("Print every file it would write and every command it would run; change nothing (the default)");
        var socketActivation = new Option<bool>("--socket-activation") { Description = "systemd: also install a .socket unit, so the daemon starts on the first connection" };
        var json = CommonOptions.Json("Print one JSON object: each file's state and the platform's own answer");
        var service = new Command("service", "Run the daemon as a per-user service (a dry run unless --apply)");
        foreach (var (verb, action, text) in new[]
        {
            ("install", ServiceAction.Install, "Write the unit (plist, task) and enable it at login"),
            ("uninstall", ServiceAction.Uninstall, "Stop and disable the service and remove its files"),
            ("load", ServiceAction.Load, "Start the service now"),
            ("unload", ServiceAction.Unload, "Stop the service now"),
            ("status", ServiceAction.Status, "Show whether the service files are installed and current"),
        })
        {
            var command = new Command(verb, text) { platform };
            if (action == ServiceAction.Status)
            {
                command.Options.Add(json);
            }
            else
            {
                command.Options.Add(apply);
                command.Options.Add(dryRun);
            }

            if (action == ServiceAction.Install)
            {
                command.Options.Add(socketActivation);
            }

            command.SetAction(CommonOptions.Unless(apply, dryRun, (r, ct) => new ServiceCommands(r.Output(), r.Error())
                .RunAsync(r.GetValue(config), action, r.GetValue(platform), r.GetValue(socketActivation), r.GetValue(apply), r.GetValue(json), ct)));
            service.Subcommands.Add(command);
        }

        return service;
    }

    public async Task<int> RunAsync(string? configOption, ServiceAction action, string? platformOption, bool socketActivation, bool apply, bool json, CancellationToken ct)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        var here = ThisPlatform();
        ServicePlatform platform;
        if (platformOption is null)
        {
            platform = here;
        }
        else if (!Enum.TryParse(platformOption, ignoreCase: true, out platform) || !Enum.IsDefined(platform))
        {
            error.WriteLine($"mcp-broker: --platform must be systemd, launchd or windows, not '{platformOption}'");
            return ExitCodes.Usage;
        }

        var context = Context(model, platform);
        var installed = platform == ServicePlatform.Systemd && File.Exists(Path.Combine(context.UnitDirectory, ServiceDefinitions.Name + ".socket"));
        var plan = ServiceDefinitions.Plan(platform, action, context, socketActivation || (action != ServiceAction.Install && installed));
        if (action == ServiceAction.Status)
        {
            return await StatusAsync(plan, context, socketActivation || installed, platform == here, json, ct);
        }

        if (!apply)
        {
            PrintDryRun(plan);
            return ExitCodes.Ok;
        }

        if (platform != here)
        {
            error.WriteLine($"mcp-broker: --apply for {Lower(platform)} runs {plan.Commands.FirstOrDefault()?.FileName ?? "its tools"} on {Lower(platform)}; this machine is {Lower(here)}. Without --apply the plan is printed.");
            return ExitCodes.Usage;
        }

        model.Runtime.EnsureCreated();
        foreach (var command in plan.Prepare)
        {
            // Stops what runs before its files change; may fail when there is nothing to stop.
            if (await RunAndPrintAsync(command, ct) is var exit and not 0)
            {
                output.WriteLine($"(exit {exit}: taken as nothing to stop)");
            }
        }

        var backups = Path.Combine(model.Runtime.Root, "backups", "service");
        foreach (var file in plan.Files)
        {
            output.WriteLine(Change(file, backups));
        }

        foreach (var command in plan.Commands)
        {
            if (await RunAndPrintAsync(command, ct) is var exit and not 0)
            {
                error.WriteLine($"mcp-broker: '{command}' exited {exit}; the files above are in place, run the command again once the cause is fixed");
                return ExitCodes.Failure;
            }
        }

        output.WriteLine(action switch
        {
            ServiceAction.Install => $"installed; the daemon now runs as a {Lower(platform)} service ('mcp-broker service status' shows it)",
            ServiceAction.Uninstall => "uninstalled; 'mcp-broker daemon stop' ends a daemon started by hand",
            _ => "done",
        });
        return ExitCodes.Ok;
    }

    /// <summary>This user's service context on this machine: how to run this CLI, the config, the unit folder, PATH.</summary>
    internal static ServiceContext Context(BrokerModel model, ServicePlatform platform)
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var unitDirectory = platform switch
        {
            ServicePlatform.Systemd => Path.Combine(Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(home, ".config"), "systemd", "user"),
            ServicePlatform.Launchd => Path.Combine(home, "Library", "LaunchAgents"),
            _ => Path.Combine(Environment.GetEnvironmentVariable("LOCALAPPDATA") is { Length: > 0 } local ? local : Path.Combine(home, "AppData", "Local"), "mcp-broker", "service"),
        };
        var (executable, prefix) = DaemonCommands.SelfCommand();
        var user = OperatingSystem.IsWindows() ? $"{Environment.UserDomainName}\\{Environment.UserName}" : Environment.UserName;
        return new ServiceContext(executable, prefix, Path.GetFullPath(model.SourcePath), model.Runtime.Root, unitDirectory,
            Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin", (int)Native.EffectiveUserId, user);
    }

    private static ServicePlatform ThisPlatform() =>
        OperatingSystem.IsWindows() ? ServicePlatform.Windows : OperatingSystem.IsMacOS() ? ServicePlatform.Launchd : ServicePlatform.Systemd;

    private static string Lower(ServicePlatform platform) => platform.ToString().ToLowerInvariant();

    private void PrintDryRun(ServicePlan plan)
    {
        output.WriteLine($"# mcp-broker service {plan.Action.ToString().ToLowerInvariant()} --platform {Lower(plan.Platform)}: dry run, nothing is written or run (--apply does it)");
        foreach (var command in plan.Prepare)
        {
            output.WriteLine($"# would run first ({command.Purpose}; failing is fine):\n{command}");
        }

        foreach (var file in plan.Files)
        {
            if (file.Content is null)
            {
                output.WriteLine($"\n# would remove {file.Path} ({file.Purpose}), if present, after a backup");
                continue;
            }

            var verb = File.Exists(file.Path) ? (File.ReadAllText(file.Path) == file.Content ? "would leave unchanged" : "would replace (after a backup)") : "would write";
            output.WriteLine($"\n# {verb} {file.Path} ({file.Purpose}):");
            output.Write(file.Content);
        }

        output.WriteLine();
        foreach (var command in plan.Commands)
        {
            output.WriteLine($"# would run ({command.Purpose}):\n{command}");
        }
    }

    /// <summary>Writes or removes one file, backing up what it replaces; the outcome in words.</summary>
    private static string Change(ServiceFile file, string backups)
    {
        var current = ClientFiles.Read(file.Path);
        if (file.Content is not null && current is not null && current.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(file.Content)))
        {
            return $"unchanged {file.Path}";
        }

        var backup = current is null ? null : Backup(file.Path, current, backups);
        if (file.Content is null)
        {
            if (current is null)
            {
                return $"not present {file.Path}";
            }

            File.Delete(file.Path);
            return $"removed {file.Path} (backup {backup})";
        }

        ClientFiles.WriteAtomic(file.Path, Encoding.UTF8.GetBytes(file.Content),
            OperatingSystem.IsWindows() ? null : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return backup is null ? $"wrote {file.Path}" : $"replaced {file.Path} (backup {backup})";
    }

    private static string Backup(string path, byte[] content, string backups)
    {
        Directory.CreateDirectory(backups);
        var backup = Path.Combine(backups, $"{Path.GetFileName(path)}.{DateTime.UtcNow:yyyyMMddTHHmmssfffZ}");
        ClientFiles.WriteAtomic(backup, content);
        return backup;
    }

    private async Task<int> StatusAsync(ServicePlan plan, ServiceContext context, bool socketActivation, bool here, bool json, CancellationToken ct)
    {
        var install = ServiceDefinitions.Plan(plan.Platform, ServiceAction.Install, context, socketActivation);
        var files = new JsonArray();
        var current = 0;
        foreach (var file in install.Files)
        {
            var state = !File.Exists(file.Path) ? "not installed" : File.ReadAllText(file.Path) == file.Content ? "installed" : "installed, differs from what 'service install' writes now";
            current += state == "installed" ? 1 : 0;
            files.Add(new JsonObject { ["path"] = file.Path, ["state"] = state });
            if (!json)
            {
                output.WriteLine($"{file.Path}: {state}");
            }
        }

        var exit = current == install.Files.Count ? ExitCodes.Ok : ExitCodes.Failure;
        var commands = new JsonArray();
        if (!here && !json)
        {
            output.WriteLine($"({Lower(plan.Platform)} is not this machine's platform: nothing more to ask)");
        }

        foreach (var command in here ? plan.Commands : [])
        {
            if (json)
            {
                var (code, printed) = await RunCommandAsync(command, ct);
                commands.Add(new JsonObject { ["command"] = command.ToString(), ["exit"] = code, ["output"] = printed.TrimEnd() });
            }
            else
            {
                await RunAndPrintAsync(command, ct);
            }
        }

        if (json)
        {
            output.WriteLine(new JsonObject
            {
                ["platform"] = Lower(plan.Platform),
                ["this_platform"] = here,
                ["installed"] = exit == ExitCodes.Ok,
                ["files"] = files,
                ["commands"] = commands,
            }.ToJsonString());
        }

        return exit;
    }

    /// <summary>Prints the command, runs it, prints what it printed; its exit code.</summary>
    private async Task<int> RunAndPrintAsync(ServiceCommand command, CancellationToken ct)
    {
        output.WriteLine($"$ {command}");
        var (exit, printed) = await RunCommandAsync(command, ct);
        if (printed.Length > 0)
        {
            output.WriteLine(printed.TrimEnd());
        }

        return exit;
    }

    private static async Task<(int Exit, string Output)> RunCommandAsync(ServiceCommand command, CancellationToken ct)
    {
        var start = new ProcessStartInfo(command.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            return (process.ExitCode, (await stdout) + (await stderr));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (127, $"cannot run {command.FileName}: {ex.Message}");
        }
    }
}
