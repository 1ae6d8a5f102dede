using System.CommandLine;
using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Platform;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

/// <summary>
/// Checks what usually goes wrong and says how to fix it: the config, the daemon, its socket and lock, stale files,
/// orphaned upstream processes, upstream commands, secrets, each client's config entry, versions. One line per finding
/// with its fix (or one JSON object with --json); it changes nothing. Exit 0 when nothing is broken (warnings and tips
/// may be listed), 1 when something is (a problem), as every command's 1 means failure.
/// </summary>
internal sealed class DoctorCommand(TextWriter output)
{
    /// <summary><c>doctor [--json]</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var json = CommonOptions.Json("Print one JSON object: every finding with its level and fix");
        var doctor = new Command("doctor", "Check what usually goes wrong and say how to fix it") { json };
        doctor.SetAction((r, ct) => new DoctorCommand(r.Output()).RunAsync(r.GetValue(config), r.GetValue(json), ct));
        return doctor;
    }

    public async Task<int> RunAsync(string? configOption, bool json, CancellationToken ct)
    {
        var (warnings, problems, tips) = (0, 0, 0);
        var findings = new JsonArray();
        void Report(string level, string label, string text, string? fix)
        {
            findings.Add(new JsonObject { ["level"] = level, ["text"] = text, ["fix"] = fix });
            if (!json)
            {
                output.WriteLine($"{label,-9}{text}{(fix is null ? "" : level == "tip" ? $"; next: {fix}" : $"; fix: {fix}")}");
            }
        }

        void Ok(string text) => Report("ok", "ok", text, null);
        void Warn(string text, string fix)
        {
            warnings++;
            Report("warning", "WARN", text, fix);
        }

        void Problem(string text, string fix)
        {
            problems++;
            Report("problem", "PROBLEM", text, fix);
        }

        // Not a fault: something declared that is not done yet (a client in the config not wired yet).
        void Tip(string text, string fix)
        {
            tips++;
            Report("tip", "TIP", text, fix);
        }

        int Verdict()
        {
            if (json)
            {
                output.WriteLine(new JsonObject
                {
                    ["ok"] = problems == 0, ["problems"] = problems, ["warnings"] = warnings, ["tips"] = tips, ["findings"] = findings,
                }.ToJsonString());
            }
            else
            {
                output.WriteLine(problems + warnings == 0
                    ? $"no problems found{(tips > 0 ? $" ({tips} tip(s) above)" : "")}"
                    : $"{problems} problem(s), {warnings} warning(s){(tips > 0 ? $", {tips} tip(s)" : "")}");
            }

            return problems > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        }

        Ok($"mcp-broker {BrokerInfo.Version} on .NET {Environment.Version}");
        var load = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        if (load.Missing)
        {
            Problem($"no config at {load.Path}", "mcp-broker config init (writes a commented starter there), or pass --config PATH");
            return Verdict();
        }

        if (load.Model is not { } model)
        {
            Problem($"config {load.Path} is invalid ({load.Errors.Count()} error(s))", $"run 'mcp-broker config validate --config {load.Path}' and fix what it lists");
            return Verdict();
        }

        Ok($"config {model.SourcePath}: {model.Upstreams.Count} upstream(s), {model.Profiles.Count} profile(s)");
        foreach (var warning in load.Warnings)
        {
            Warn($"config: {warning.Path}: {warning.Message}", "as the warning says");
        }

        await CheckDaemonAsync(model, Ok, Warn, Problem, ct);
        foreach (var record in new ProcessRecords(model.Runtime.RunDir).Read().Where(r => !ProcessRecords.OwnerAlive(r)))
        {
            var alive = Native.ProcessAlive(record.Pid);
            Problem($"upstream {record.Upstream}: pid {record.Pid} was started by daemon {record.OwnerPid}, which is gone{(alive ? "; the process still runs" : "")}",
                "run 'mcp-broker daemon reap' (a daemon start does it too)");
        }

        CheckUpstreams(model, Ok, Problem);
        CheckClients(model, Ok, Warn, Problem, Tip);
        return Verdict();
    }

    private static async Task CheckDaemonAsync(BrokerModel model, Action<string> ok, Action<string, string> warn, Action<string, string> problem, CancellationToken ct)
    {
        var runtime = model.Runtime;
        switch (DaemonEnvironment.Read(runtime))
        {
            case null:
                ok($"upstream environment: not captured yet (the first daemon start captures it; 'mcp-broker daemon env --capture' takes it from your shell)");
                break;
            case { FromShell: false } captured:
                warn($"upstream {EnvCommand.Describe(captured)}: a client's environment, not your shell's", "mcp-broker daemon env --capture, then mcp-broker daemon stop");
                break;
            case var captured:
                ok($"upstream {EnvCommand.Describe(captured)}");
                break;
        }

        if (!OperatingSystem.IsWindows() && Directory.Exists(runtime.Root)
            && (File.GetUnixFileMode(runtime.Root) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            problem($"the runtime root {runtime.Root} is open to other users (it holds secrets and the socket)", $"chmod 700 {runtime.Root}");
        }

        var answer = await DaemonClient.ControlAsync(runtime.SocketPath, "status", TimeSpan.FromSeconds(5), cancellationToken: ct);
        if (answer is { Ok: true, Status: { } status })
        {
            var daemon = status["daemon"]!;
            ok($"daemon running (pid {answer.DaemonPid}, version {daemon["version"]}) on {runtime.SocketPath}");
            if (daemon["version"]?.GetValue<string>() != BrokerInfo.Version)
            {
                warn($"the daemon runs version {daemon["version"]}, this command is {BrokerInfo.Version}", "restart it: mcp-broker daemon stop (the next client starts the new one)");
            }

            if (daemon["config"]?.GetValue<string>() is { } served && Path.GetFullPath(served) != Path.GetFullPath(model.SourcePath))
            {
                warn($"the daemon on this socket serves {served}, not {model.SourcePath}", "give each config its own runtime.root");
            }

            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(runtime.SocketPath) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
            {
                problem($"the socket {runtime.SocketPath} is open to other users", "restart the daemon (it creates the socket 0600)");
            }

            foreach (var upstream in status["upstreams"]!.AsArray().Where(u => u?["state"]?.GetValue<string>() is "circuit_open" or "backoff"))
            {
                problem($"upstream {upstream!["name"]} is {upstream["state"]}: {upstream["last_error"]}",
                    $"fix the cause, then: mcp-broker upstream restart {upstream["name"]}");
            }

            return;
        }

        ok($"no daemon running for {runtime.Root} (the first client starts one)");
        if (File.Exists(runtime.SocketPath))
        {
            warn($"stale socket {runtime.SocketPath}", "harmless (the next daemon removes it); or delete it");
        }

        if (DaemonHost.ReadPid(runtime.PidPath) is { } pid)
        {
            if (Native.ProcessAlive(pid))
            {
                problem($"stale pid file {runtime.PidPath}: pid {pid} runs but does not answer on the socket", $"check 'ps -p {pid}'; 'kill {pid}' if it is a hung broker");
            }
            else
            {
                warn($"stale pid file {runtime.PidPath} (pid {pid}, not running)", "harmless (the next daemon rewrites it); or delete it");
            }
        }
    }

    private static void CheckUpstreams(BrokerModel model, Action<string> ok, Action<string, string> problem)
    {
        var now = DateTimeOffset.UtcNow;
        // env_from is read from the daemon's environment, not this shell's (see 'mcp-broker daemon env').
        Func<string, string?> getEnv = DaemonEnvironment.Read(model.Runtime) is { } daemonEnvironment ? daemonEnvironment.Value : Environment.GetEnvironmentVariable;
        foreach (var upstream in model.Upstreams.Where(u => u.Mode != UpstreamMode.Disabled))
        {
            var found = true;
            if (upstream.Remote is null && !CommandExists(upstream.Command))
            {
                found = false;
                problem($"upstream {upstream.Name}: command '{upstream.Command}' is not found", $"install it or fix upstreams.{upstream.Name}.command (an absolute path always works)");
            }

            // The same passive probe as 'auth status' and status: variables, secret files (present, 0600), OAuth tokens.
            var probe = AuthProbe.Of(upstream, getEnv, now);
            foreach (var missing in probe.Missing)
            {
                problem($"upstream {upstream.Name}: {missing}", missing.Contains("run", StringComparison.Ordinal)
                    ? "as the line says"
                    : "set the variable in your shell and run 'mcp-broker daemon env --capture' (or add NAME=value to {runtime.secrets_dir}/service.env), or create the file with the secret and 'chmod 600' it");
            }

            if (probe.State is AuthProbe.OAuthRefreshExpired or AuthProbe.CredentialsRefused)
            {
                problem($"upstream {upstream.Name}: {probe.Detail}", $"mcp-broker auth login {upstream.Name}");
            }

            if (found && !probe.IsProblem)
            {
                ok($"upstream {upstream.Name}: {(upstream.Remote is null ? $"command {upstream.Command}" : upstream.Remote.DisplayUrl)}, credentials {probe.State}");
            }
        }
    }

    /// <summary>Each configured client's file has the broker's entry, enabled, with the intended profile and config.</summary>
    private static void CheckClients(BrokerModel model, Action<string> ok, Action<string, string> warn, Action<string, string> problem, Action<string, string> tip)
    {
        var covered = model.Upstreams.Where(u => u.Mode != UpstreamMode.Disabled).Select(ClientImport.Identity).ToHashSet(StringComparer.Ordinal);
        foreach (var client in model.Clients.Values)
        {
            CheckAppsPolicy(client, ok, warn, problem);
            var apply = $"mcp-broker client apply {client.Name}";
            var path = ClientFiles.Resolve(client.ConfigPath);
            IReadOnlyList<ClientServer> servers;
            try
            {
                servers = ClientServers.Read(client.Format, ClientFiles.Read(path), client.ConfigPath);
            }
            catch (ClientConfigException ex)
            {
                problem($"client {client.Name}: {ex.Message}", $"fix the file by hand, or restore it: mcp-broker client rollback {client.Name}");
                continue;
            }

            if (servers.FirstOrDefault(s => s.Name == client.EntryName) is not { } entry)
            {
                // Declared but not applied yet: the next step, not a fault.
                tip($"client {client.Name}: {client.ConfigPath} has no '{client.EntryName}' server entry{(File.Exists(path) ? "" : " (the file does not exist)")}", apply);
                continue;
            }

            var profile = ArgAfter(entry.Args, "--profile") ?? ProfileModel.DefaultName;
            var config = ArgAfter(entry.Args, "--config");
            if (!ClientImport.IsBroker(entry))
            {
                problem($"client {client.Name}: the '{client.EntryName}' entry runs '{entry.Command ?? entry.Url}', not mcp-broker-client", apply);
            }
            else if (!entry.Enabled)
            {
                problem($"client {client.Name}: the '{client.EntryName}' entry is disabled", apply);
            }
            else if (profile != client.Profile)
            {
                problem($"client {client.Name}: the entry uses profile '{profile}', the config says '{client.Profile}'", apply);
            }
            else if (config is not null && Path.GetFullPath(config) != Path.GetFullPath(model.SourcePath))
            {
                problem($"client {client.Name}: the entry reads config {config}, not {model.SourcePath}", apply);
            }
            else if (entry.Command is { } command && command.Contains('/') && !File.Exists(command))
            {
                problem($"client {client.Name}: the entry's command {command} does not exist", apply);
            }
            else
            {
                ok($"client {client.Name}: {client.ConfigPath} runs the broker with profile '{profile}'");
            }

            foreach (var duplicate in servers.Where(s => s.Name != client.EntryName && s.Enabled && !ClientImport.IsBroker(s) && covered.Contains(s.Identity)))
            {
                warn($"client {client.Name}: also runs '{duplicate.Name}' itself, which the broker runs too (two copies, and its tools twice)",
                    $"mcp-broker client apply {client.Name} --remove-others");
            }
        }
    }

    /// <summary>A Codex client's hosted-app policy: applied, or what applying it would still change.</summary>
    private static void CheckAppsPolicy(ClientModel client, Action<string> ok, Action<string, string> warn, Action<string, string> problem)
    {
        if (client.CodexAppsPolicy is not { Enabled: true } policy)
        {
            return;
        }

        try
        {
            var plan = CodexApps.Plan(client, policy);
            if (plan.Changes.Count == 0)
            {
                ok($"client {client.Name}: its codex_apps_policy is applied ({plan.After.Tools} hosted-app tool definition(s) cached)");
            }
            else if (plan.Changes.All(c => c.Path != client.ConfigPath))
            {
                // The switch that lasts is in config.toml; Codex rewrites its caches when it refreshes them, whole.
                ok($"client {client.Name}: its codex_apps_policy is applied in {client.ConfigPath}; Codex has refreshed its caches since "
                    + $"({plan.Before.Tools - plan.After.Tools} cached definition(s) of disabled connectors; 'mcp-broker client apps-policy {client.Name} --apply' prunes them again)");
            }
            else
            {
                warn($"client {client.Name}: its codex_apps_policy is not applied: {plan.Changes.Count} file(s) to change, {plan.Before.Tools - plan.After.Tools} hosted-app tool definition(s) of disabled connectors still cached",
                    $"mcp-broker client apps-policy {client.Name} --apply");
            }
        }
        catch (Exception ex) when (ex is ClientConfigException or IOException or UnauthorizedAccessException)
        {
            // The message names the file and its fix: a cache file may be deleted (Codex rebuilds it), config.toml may not.
            problem($"client {client.Name}: codex_apps_policy: {ex.Message}", $"see the file named above, or fix clients.{client.Name}.codex_apps_policy's globs");
        }
    }

    private static string? ArgAfter(IReadOnlyList<string> args, string flag)
    {
        var at = args.ToList().IndexOf(flag);
        return at >= 0 && at + 1 < args.Count ? args[at + 1] : null;
    }

    private static bool CommandExists(string command) =>
        command.Contains('/')
            ? File.Exists(command)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, command)));
}
