using System.CommandLine;
using McpBroker.Cli;
using McpBroker.Config;
using McpBroker.Service;
using McpBroker.Shim;

// 'mcp-broker shim ARGS' is mcp-broker-client in this process (a .NET tool package installs one command): taken
// before the command tree is built, so a client session starts as fast as this process can.
if (args is ["shim", .. var shimArgs])
{
    DaemonCommands.ExportSelfForShim();
    return ShimEntry.Run(shimArgs);
}

// The command tree only; each handler lives in its own file and returns a documented exit code (README, "Exit codes"):
// 0 success, 1 failure (invalid config, daemon error, doctor found a problem), 2 usage error, 3 daemon already running
// (status, top: none running, or no config yet).
var configOption = new Option<string?>("--config")
{
    Description = "Config file (default: $MCP_BROKER_CONFIG, else ~/.config/mcp-broker/broker.yaml)",
    Recursive = true,
};

// One vocabulary for commands that change files: --dry-run shows what would change and changes nothing. Commands
// that are dry runs unless told otherwise (service, client apps-policy) keep --apply, and accept --dry-run too.
Option<bool> DryRun(string what) => new("--dry-run") { Description = what };
Func<ParseResult, Task<int>> Unless(Option<bool> apply, Option<bool> dryRun, Func<ParseResult, Task<int>> action) => r =>
    r.GetValue(apply) && r.GetValue(dryRun) ? Task.FromResult(Usage("--apply and --dry-run contradict each other; pass one")) : action(r);

var force = new Option<bool>("--force") { Description = "Overwrite an existing file" };
var initDryRun = DryRun("Print the starter config and where it would go; write nothing");
var init = new Command("init", "Write a commented starter config") { force, initDryRun };
init.SetAction(r => ConfigCommands.Init(r.GetValue(configOption), r.GetValue(force), r.GetValue(initDryRun)));

var configValidateJson = new Option<bool>("--json") { Description = "Print one JSON object: valid, every error and warning with its YAML path" };
var validate = new Command("validate", "Check the config: exit 0 valid, 1 invalid (every error on stderr)") { configValidateJson };
validate.SetAction(r => ConfigCommands.Validate(r.GetValue(configOption), r.GetValue(configValidateJson)));

var show = new Command("show", "Print the resolved config, secrets redacted");
show.SetAction(r => ConfigCommands.Show(r.GetValue(configOption)));

var schema = new Command("schema", "Print the config's JSON Schema");
schema.SetAction(_ => ConfigCommands.Schema());

var detach = new Option<bool>("--detach") { Description = "Start in the background (if none is running) and print the socket path" };
var background = new Option<bool>("--background") { Hidden = true };
var logFile = new Option<bool>("--log-file") { Description = "Log to {runtime.root}/logs/daemon.log (JSON lines, rotated) instead of stderr, as a background daemon does; service units use it" };
var daemon = new Command("daemon", "Run the broker daemon in the foreground (SIGTERM/SIGINT stop it)") { detach, background, logFile };
daemon.SetAction((r, ct) => DaemonCommands.RunAsync(r.GetValue(configOption), r.GetValue(detach), r.GetValue(background), r.GetValue(logFile), ct));

var stop = new Command("stop", "Stop the daemon and every upstream it runs");
stop.SetAction((r, ct) => DaemonCommands.StopAsync(r.GetValue(configOption)));
daemon.Subcommands.Add(stop);

var reload = new Command("reload", "Make the running daemon read its config now and apply what changed (it also watches the file; SIGHUP does the same); exit 1 if the config is invalid");
reload.SetAction((r, ct) => DaemonCommands.ReloadAsync(r.GetValue(configOption)));
daemon.Subcommands.Add(reload);

var reapJson = new Option<bool>("--json") { Description = "Print one JSON object: each process reaped and how" };
var reap = new Command("reap", "Stop upstream processes left behind by a daemon that died, and report each") { reapJson };
reap.SetAction((r, ct) => DaemonCommands.ReapAsync(r.GetValue(configOption), r.GetValue(reapJson)));
daemon.Subcommands.Add(reap);

var capture = new Option<bool>("--capture") { Description = "Capture it now from this shell (PATH, locale, proxies, caches and every variable an env_from names)" };
var daemonEnv = new Command("env", "Where the daemon's environment (its upstreams' PATH, HOME …, and env_from values) comes from, and the names it sets") { capture };
daemonEnv.SetAction(r => EnvCommand.Run(r.GetValue(configOption), r.GetValue(capture)));
daemon.Subcommands.Add(daemonEnv);

var upstreamName = new Argument<string>("NAME") { Description = "Upstream name, as in the config" };
var restart = new Command("restart", "Close an upstream's circuit and restart it on its next request") { upstreamName };
restart.SetAction((r, ct) => DaemonCommands.RestartUpstreamAsync(r.GetValue(configOption), r.GetValue(upstreamName)!));

var approveUpstream = new Argument<string>("UPSTREAM") { Description = "Upstream name, as in the config" };
var approveTool = new Argument<string?>("TOOL") { Description = "The upstream's own tool name (default: every tool it lists now)", Arity = ArgumentArity.ZeroOrOne };
var approveJson = new Option<bool>("--json") { Description = "Print one JSON object: ok, and what was approved or why not" };
var approve = new Command("approve", "Approve an upstream's tool definitions as it lists them now: pinned tools leave quarantine") { approveUpstream, approveTool, approveJson };
approve.SetAction((r, ct) => ToolsCommands.ApproveAsync(r.GetValue(configOption), r.GetValue(approveUpstream)!, r.GetValue(approveTool), r.GetValue(approveJson)));

var warmProfile = new Option<string?>("--profile") { Description = "Only the upstreams this profile sees (default: every enabled upstream)" };
var warmJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var warm = new Command("warm", "Start upstreams and list their tools now, as a session's first search would (the daemon starts if needed); live progress on a terminal; exit 1 if any could not be listed") { warmProfile, warmJson };
warm.SetAction((r, ct) => ToolsCommands.WarmAsync(r.GetValue(configOption), r.GetValue(warmProfile), r.GetValue(warmJson), ct));

var countProfile = new Option<string?>("--profile") { Description = "Only this profile (default: every profile)" };
var countJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var count = new Command("count", "The tools a profile advertises (its tools/list) and, per upstream and in total, the upstream tools it shows and hides (the daemon starts if needed); exit 1 if any could not be listed") { countProfile, countJson };
count.SetAction((r, ct) => ToolsCommands.CountAsync(r.GetValue(configOption), r.GetValue(countProfile), r.GetValue(countJson), ct));

var measureProfile = new Option<string>("--profile") { Description = "Profile to measure", DefaultValueFactory = _ => "default" };
var measureToken = new Option<string?>("--token-file") { Description = "Token file, for a profile with require_token_file" };
var measureJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var measure = new Command("measure", "What a profile's tools/list costs a model (tools, bytes, o200k tokens) against its upstreams' raw tools")
{
    measureProfile, measureToken, measureJson,
};
measure.SetAction((r, ct) => MeasureCommand.RunAsync(r.GetValue(configOption), r.GetValue(measureProfile)!, r.GetValue(measureToken), r.GetValue(measureJson), ct));

var snippetFormat = new Option<string>("--format") { Description = $"Client config format ({string.Join(", ", McpBroker.Clients.ClientFormats.Names)}) or a known client's name (claude, codex, gemini, …)", Required = true };
var snippetProfile = new Option<string>("--profile") { Description = "Profile the client connects with", DefaultValueFactory = _ => "default" };
var snippetName = new Option<string>("--name") { Description = "Server entry name in the client", DefaultValueFactory = _ => "mcp-broker" };
var snippet = new Command("snippet", "Print the broker's server entry for a client's config file, to merge by hand") { snippetFormat, snippetProfile, snippetName };
snippet.SetAction(r => ClientCommands.Snippet(r.GetValue(configOption), r.GetValue(snippetFormat)!, r.GetValue(snippetProfile)!, r.GetValue(snippetName)!));

Argument<string> ClientName() => new("NAME") { Description = "Client name: one in the config's clients section, or a known client ('client detect' lists them) wired to its usual file with the default profile" };
var removeOthers = new Option<bool>("--remove-others") { Description = "Also remove the client's other servers that the broker config runs (after 'client import')" };
var exposure = new Option<string>("--exposure") { Description = "What the client lists: 'facade' (the four broker tools, kept loaded) or 'raw' (the namespaced upstream tools, for a client whose tool search defers them); default: facade, or what the entry already says", HelpName = "facade|raw" };
exposure.AcceptOnlyFromAmong("facade", "raw");
var renderName = ClientName();
var render = new Command("render", "Write what apply would write under {runtime.root}/renders/ and print the diff; changes nothing") { renderName, removeOthers, exposure };
render.SetAction(r => ClientCommands.Render(r.GetValue(configOption), r.GetValue(renderName)!, r.GetValue(removeOthers), r.GetValue(exposure)));
var applyName = ClientName();
var applyDryRun = DryRun("Do what 'client render' does: save what apply would write under {runtime.root}/renders/ and print the diff; the client's file is not touched");
var apply = new Command("apply", "Back up the client's config file, then merge the broker's entry into it (atomic write)") { applyName, removeOthers, applyDryRun, exposure };
apply.SetAction(r => r.GetValue(applyDryRun)
    ? ClientCommands.Render(r.GetValue(configOption), r.GetValue(applyName)!, r.GetValue(removeOthers), r.GetValue(exposure))
    : ClientCommands.Apply(r.GetValue(configOption), r.GetValue(applyName)!, r.GetValue(removeOthers), r.GetValue(exposure)));
var backupName = ClientName();
var backup = new Command("backup", "Save the client's config file as it is now") { backupName };
backup.SetAction(r => ClientCommands.Backup(r.GetValue(configOption), r.GetValue(backupName)!));
var backupsName = ClientName();
var backups = new Command("backups", "List the saved copies of the client's config file") { backupsName };
backups.SetAction(r => ClientCommands.List(r.GetValue(configOption), r.GetValue(backupsName)!));
var rollbackName = ClientName();
var rollbackTo = new Option<string?>("--to") { Description = "Backup ID (default: the newest one not made by a rollback)" };
var rollbackForce = new Option<bool>("--force") { Description = "Roll back even though the client wrote the file since the broker last did (what it wrote is lost; the file as it is now is backed up first)" };
var rollback = new Command("rollback", "Restore the client's config file byte for byte from a backup (removes it if it did not exist then); refused if the client wrote the file since") { rollbackName, rollbackTo, rollbackForce };
rollback.SetAction(r => ClientCommands.Rollback(r.GetValue(configOption), r.GetValue(rollbackName)!, r.GetValue(rollbackTo), r.GetValue(rollbackForce)));
var removeName = ClientName();
var removeDryRun = new Option<bool>("--dry-run") { Description = "Print the diff; write nothing" };
var remove = new Command("remove", "Take only the broker's entry out of the client's config file (and put back the servers 'apply --remove-others' took out), keeping everything the client wrote since") { removeName, removeDryRun };
remove.SetAction(r => ClientCommands.Remove(r.GetValue(configOption), r.GetValue(removeName)!, r.GetValue(removeDryRun)));
var detectJson = new Option<bool>("--json") { Description = "Machine-readable output" };
var detect = new Command("detect", "List the agent clients installed here, their config files (found or not) and whether the broker is wired into each") { detectJson };
detect.SetAction(r => ClientCommands.Detect(r.GetValue(configOption), r.GetValue(detectJson)));
var importName = ClientName();
var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be added; write nothing" };
var import = new Command("import", "Add the client's other MCP servers to the broker config as upstreams (secrets become env_from references)") { importName, dryRun };
import.SetAction(r => ClientCommands.Import(r.GetValue(configOption), r.GetValue(importName)!, r.GetValue(dryRun)));

var appsPolicyName = ClientName();
var appsPolicyApply = new Option<bool>("--apply") { Description = "Write the changes (every file backed up first under one backup id; 'client rollback' undoes them); without it they are printed" };
var appsPolicyDryRun = DryRun("Print the changes and write nothing (the default)");
var appsPolicy = new Command("apps-policy", "Codex: disable the hosted apps (connectors) named in the client's codex_apps_policy and remove their tools from Codex's caches; dry run unless --apply") { appsPolicyName, appsPolicyApply, appsPolicyDryRun };
appsPolicy.SetAction(Unless(appsPolicyApply, appsPolicyDryRun,
    r => Task.FromResult(ClientCommands.AppsPolicy(r.GetValue(configOption), r.GetValue(appsPolicyName)!, r.GetValue(appsPolicyApply)))));

var acceptanceName = ClientName();
var acceptanceProfile = new Option<string?>("--profile") { Description = "Profile to check (default: the client's)" };
var acceptanceJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var acceptance = new Command("acceptance", "Codex: the calls to make inside a Codex session (search, describe, safe call) to check the broker's deferred tools, from each visible upstream's smoke probe, under Codex's mcp__SERVER__TOOL names; runs nothing; exit 1 if an upstream has no probe") { acceptanceName, acceptanceProfile, acceptanceJson };
acceptance.SetAction(r => ClientCommands.Acceptance(r.GetValue(configOption), r.GetValue(acceptanceName)!, r.GetValue(acceptanceProfile), r.GetValue(acceptanceJson)));

var authName = new Argument<string>("UPSTREAM") { Description = "An http/sse upstream with an oauth block" };
var noBrowser = new Option<bool>("--no-browser") { Description = "Only print the authorization URL" };
var loginTimeout = new Option<string>("--timeout") { Description = "How long to wait for the redirect", DefaultValueFactory = _ => "5m" };
var login = new Command("login", "Log in to an upstream with OAuth (authorization code + PKCE, loopback redirect); stores the tokens 0600 under {runtime.secrets_dir}/oauth/") { authName, noBrowser, loginTimeout };
login.SetAction((r, ct) => Duration.TryParse(r.GetValue(loginTimeout)!, out var t)
    ? AuthCommands.LoginAsync(r.GetValue(configOption), r.GetValue(authName)!, r.GetValue(noBrowser), t.Value, ct)
    : Task.FromResult(Usage($"--timeout '{r.GetValue(loginTimeout)}' is not a duration such as 90s or 5m")));
var logoutName = new Argument<string>("UPSTREAM") { Description = "An http/sse upstream with an oauth block" };
var logout = new Command("logout", "Revoke an upstream's OAuth tokens at its server (where it offers revocation) and remove them here") { logoutName };
logout.SetAction((r, ct) => AuthCommands.LogoutAsync(r.GetValue(configOption), r.GetValue(logoutName)!, ct));
var authJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var authStatus = new Command("status", "Check every upstream's credentials without a network call: host variables, secret files (present, non-empty, 0600), OAuth tokens and their expiry; exit 1 if any are missing") { authJson };
authStatus.SetAction(r => AuthCommands.Status(r.GetValue(configOption), r.GetValue(authJson)));

var statusJson = new Option<bool>("--json") { Description = "Print one JSON object (the default when the output is not a terminal)" };
var statusTable = new Option<bool>("--table") { Description = "Print tables even when the output is not a terminal" };
var status = new Command("status", "The running daemon: pid, uptime, version, config; sessions; upstreams (state, pid, mode, sessions, restarts, tools, idle time, auth, last error). Exit 3 if no daemon runs") { statusJson, statusTable };
status.SetAction((r, ct) => StatusCommand.RunAsync(r.GetValue(configOption), r.GetValue(statusJson), r.GetValue(statusTable)));

var topInterval = new Option<string>("--interval") { Description = "How often to redraw", DefaultValueFactory = _ => "1s" };
var topOnce = new Option<bool>("--once") { Description = "Draw one frame and exit (also when the output is not a terminal)" };
var top = new Command("top", "A live view of the running daemon, like the status page: upstreams (state, pid, calls, errors, latency, restarts, auth), sessions, recent calls, context saved per profile; Ctrl+C or q quits. Exit 3 if no daemon runs") { topInterval, topOnce };
top.SetAction((r, ct) => Duration.TryParse(r.GetValue(topInterval)!, out var every) && every.Value > TimeSpan.Zero
    ? TopCommand.RunAsync(r.GetValue(configOption), every.Value, r.GetValue(topOnce), ct)
    : Task.FromResult(Usage($"--interval '{r.GetValue(topInterval)}' is not a duration such as 1s or 500ms")));

var logsUpstream = new Option<string?>("--upstream") { Description = "Show this upstream's stderr instead of the daemon's log" };
var logsLines = new Option<int>("--lines", "-n") { Description = "How many of the last lines to print", DefaultValueFactory = _ => 50 };
var logsFollow = new Option<bool>("--follow", "-f") { Description = "Keep printing what is appended (across rotations) until interrupted" };
var logsJson = new Option<bool>("--json") { Description = "Print the daemon's log lines as they are stored (one JSON object each)" };
var logs = new Command("logs", "The end of the daemon's log ({runtime.root}/logs/daemon.log) or of an upstream's stderr (logs/upstreams/NAME.log)") { logsUpstream, logsLines, logsFollow, logsJson };
logs.SetAction((r, ct) => LogsCommand.RunAsync(r.GetValue(configOption), r.GetValue(logsUpstream), r.GetValue(logsLines), r.GetValue(logsFollow), r.GetValue(logsJson), ct));

var validateProfile = new Argument<string>("PROFILE") { Description = "Profile name, as in the config" };
var validateToken = new Option<string?>("--token-file") { Description = "Token file, for a profile with require_token_file" };
var validateJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var profileValidate = new Command("validate", "Through the shim like a client: status, tools/list, then each visible upstream's smoke probe (search finds the tool, describe, arguments fit its schema, call when asked); exit 1 on any failure")
{
    validateProfile, validateToken, validateJson,
};
profileValidate.SetAction((r, ct) => ProfileCommands.ValidateAsync(r.GetValue(configOption), r.GetValue(validateProfile)!, r.GetValue(validateToken), r.GetValue(validateJson), ct));

var parityA = new Argument<string>("A") { Description = "A profile name" };
var parityB = new Argument<string>("B") { Description = "Another profile name" };
var parityToken = new Option<string?>("--token-file") { Description = "Token file, for profiles with require_token_file" };
var parityJson = new Option<bool>("--json") { Description = "Print one JSON object" };
var profileParity = new Command("parity", "The same discovery and smoke calls through two profiles, with the differences shown; exit 1 when the probes differ")
{
    parityA, parityB, parityToken, parityJson,
};
profileParity.SetAction((r, ct) => ProfileCommands.ParityAsync(r.GetValue(configOption), r.GetValue(parityA)!, r.GetValue(parityB)!, r.GetValue(parityToken), r.GetValue(parityJson), ct));

var servicePlatform = new Option<string?>("--platform") { Description = "systemd, launchd or windows (default: this machine's)" };
var serviceApply = new Option<bool>("--apply") { Description = "Do it: back up replaced files, write them, run the commands (only for this machine's platform); without it the plan is printed" };
var serviceDryRun = DryRun("Print every file it would write and every command it would run; change nothing (the default)");
var socketActivation = new Option<bool>("--socket-activation") { Description = "systemd: also install a .socket unit, so the daemon starts on the first connection" };
var service = new Command("service", "Run the daemon as a per-user service (systemd user unit, launchd LaunchAgent, Windows Scheduled Task); dry run unless --apply");
foreach (var (verb, action, text) in new[]
{
    ("install", ServiceAction.Install, "Write the unit (plist, task) and enable it at login"),
    ("uninstall", ServiceAction.Uninstall, "Stop and disable the service and remove its files (backed up first)"),
    ("load", ServiceAction.Load, "Start the service now"),
    ("unload", ServiceAction.Unload, "Stop the service now (it starts again at the next login)"),
    ("status", ServiceAction.Status, "Whether the service files are installed and current, and the platform's own status; exit 0 when installed and current"),
})
{
    var command = new Command(verb, text) { servicePlatform };
    if (action != ServiceAction.Status)
    {
        command.Options.Add(serviceApply);
        command.Options.Add(serviceDryRun);
    }

    if (action == ServiceAction.Install)
    {
        command.Options.Add(socketActivation);
    }

    command.SetAction((r, ct) => Unless(serviceApply, serviceDryRun,
        r => ServiceCommands.RunAsync(r.GetValue(configOption), action, r.GetValue(servicePlatform), r.GetValue(socketActivation), r.GetValue(serviceApply), ct))(r));
    service.Subcommands.Add(command);
}

var stdioProfile = new Option<string>("--profile") { Description = "The profile this session uses", DefaultValueFactory = _ => "default" };
var stdioClient = new Option<string>("--client") { Description = "The client's name, shown in status and logs", DefaultValueFactory = _ => "stdio" };
var initIfMissing = new Option<bool>("--init-if-missing") { Description = "Write the starter config first if the config file does not exist" };
var stdio = new Command("stdio", "The whole broker on stdin/stdout, for MCPB bundles, containers and one-entry installs: the shim when a daemon runs, else the daemon in this process, stopped (with every upstream it started) when the client goes") { stdioProfile, stdioClient, initIfMissing };
stdio.SetAction((r, ct) => StdioCommand.RunAsync(r.GetValue(configOption), r.GetValue(stdioProfile)!, r.GetValue(stdioClient)!, r.GetValue(initIfMissing), ct));

var shim = new Command("shim", "mcp-broker-client in this process (same options: --profile, --config, --client, --socket, --token-file); what client configs run when only the .NET tool is installed") { TreatUnmatchedTokensAsErrors = false };
shim.SetAction((r, ct) =>
{
    DaemonCommands.ExportSelfForShim();
    return Task.FromResult(ShimEntry.Run([.. r.GetValue(configOption) is { } c ? new[] { "--config", c } : [], .. r.UnmatchedTokens]));
});

var doctorJson = new Option<bool>("--json") { Description = "Print one JSON object: every finding with its level and fix" };
var doctor = new Command("doctor", "Check the config, the daemon, stale files, orphaned upstreams, upstream commands and secrets, and each client's entry; exit 0 when nothing is broken (warnings and tips may be listed), 1 for a problem") { doctorJson };
doctor.SetAction((r, ct) => DoctorCommand.RunAsync(r.GetValue(configOption), r.GetValue(doctorJson)));

var keep = new Option<bool>("--keep") { Description = "Keep the throwaway runtime root for a look afterwards" };
var demo = new Command("demo", "Run the broker end to end on a throwaway root with real MCP servers from npm") { keep };
demo.SetAction((r, ct) => DemoCommand.RunAsync(r.GetValue(keep), ct));

var root = new RootCommand("mcp-broker: one local daemon that owns your MCP servers; clients connect through mcp-broker-client")
{
    configOption,
    new Command("config", "Create, check and show the config") { init, validate, show, schema },
    daemon,
    status,
    top,
    logs,
    new Command("upstream", "Act on one upstream of the running daemon") { restart },
    new Command("tools", "The daemon's tool catalog: fill it, count it, approve pinned definitions") { warm, count, approve },
    measure,
    new Command("profile", "Check what a profile gives a client") { profileValidate, profileParity },
    new Command("client", "Wire MCP clients to the broker") { detect, render, apply, remove, backup, backups, rollback, import, snippet, appsPolicy, acceptance },
    new Command("auth", "Credentials of remote upstreams: OAuth login and logout, and a passive check") { login, logout, authStatus },
    service,
    stdio,
    shim,
    doctor,
    demo,
};

// 'mcp-broker' alone is a request for help, not a mistake: the command list, exit 0.
var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
if (parse.Errors.Count > 0)
{
    // A mistyped word gets the command's nearest subcommand or option; "required command" beside it is only noise.
    var command = parse.CommandResult.Command;
    var words = command.Subcommands.Select(c => c.Name)
        .Concat(command.Options.Concat(root.Options.Where(o => o.Recursive)).SelectMany(o => o.Aliases.Prepend(o.Name)));
    var unrecognized = parse.Errors.Where(e => e.Message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal)).ToList();
    foreach (var error in unrecognized.Count > 0 ? unrecognized : parse.Errors)
    {
        var token = error.Message.Split('\'') is [_, var word, ..] ? word : "";
        Console.Error.WriteLine($"mcp-broker: {error.Message.TrimEnd('.')}{(token.Length > 0 ? DidYouMean.Hint(token, words) : "")}");
    }

    Console.Error.WriteLine("Run 'mcp-broker --help' for usage.");
    return 2;
}

try
{
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (RuntimeRootException ex)
{
    // Expected, and the user's to fix: one line (a shim starting a daemon passes it on), not a stack trace.
    Console.Error.WriteLine($"mcp-broker: {ex.Message}");
    return 1;
}
catch (Exception ex)
{
    // What System.CommandLine's default handler did before.
    if (ex is not OperationCanceledException)
    {
        Console.Error.WriteLine($"Unhandled exception: {ex}");
    }

    return 1;
}

static int Usage(string message)
{
    Console.Error.WriteLine($"mcp-broker: {message}");
    return 2;
}
