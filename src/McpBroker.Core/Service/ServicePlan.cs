using System.Globalization;
using System.Text;
using System.Xml.Linq;

namespace McpBroker.Service;

public enum ServicePlatform
{
    Systemd,
    Launchd,
    Windows,
}

public enum ServiceAction
{
    Install,
    Uninstall,
    Load,
    Unload,
    Status,
}

/// <summary>
/// What a service definition is made of: how to run mcp-broker, which config, where the runtime root is, and where
/// this user's service files live. Everything is given, nothing read from the machine, so a plan for another platform
/// can be rendered (and golden-tested) anywhere.
/// </summary>
public sealed record ServiceContext(
    string Executable,
    IReadOnlyList<string> ExecutablePrefix,
    string ConfigPath,
    string RuntimeRoot,
    string UnitDirectory,
    string Path,
    int UserId,
    string UserName)
{
    public string LogsDir => System.IO.Path.Combine(RuntimeRoot, "logs");

    public string SocketPath => System.IO.Path.Combine(RuntimeRoot, "sockets", "broker.sock");

    /// <summary>The daemon's command line: the executable, then its arguments.</summary>
    public IReadOnlyList<string> DaemonArguments => [.. ExecutablePrefix, "daemon", "--config", ConfigPath, "--log-file"];
}

/// <summary>A file a plan writes (or removes, when <see cref="Content"/> is null).</summary>
public sealed record ServiceFile(string Path, string? Content, string Purpose);

/// <summary>A command a plan runs, as a program and its arguments (no shell).</summary>
public sealed record ServiceCommand(string FileName, IReadOnlyList<string> Arguments, string Purpose)
{
    public override string ToString() => string.Join(' ', new[] { FileName }.Concat(Arguments).Select(ShellQuote));

    private static string ShellQuote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:@%+,".Contains(c)) ? word : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>
/// Every file an action writes or removes and every command it runs: <see cref="Prepare"/> first (stopping what runs;
/// allowed to fail, since it may not be there), then the files, then <see cref="Commands"/>.
/// </summary>
public sealed record ServicePlan(ServicePlatform Platform, ServiceAction Action, IReadOnlyList<ServiceFile> Files, IReadOnlyList<ServiceCommand> Commands)
{
    public IReadOnlyList<ServiceCommand> Prepare { get; init; } = [];
}

/// <summary>
/// The daemon as a per-user service: a systemd user unit (optionally socket-activated), a launchd LaunchAgent, or a
/// Windows Scheduled Task that starts at logon. Pure rendering: <see cref="Plan"/> says what an action would do;
/// the CLI prints it (dry run) or carries it out (--apply).
/// </summary>
public static class ServiceDefinitions
{
    public const string Name = "mcp-broker";
    public const string LaunchdLabel = "io.github.mcp-broker.daemon";
    private const string Header = "Written by 'mcp-broker service install'; 'mcp-broker service uninstall' removes it.";

    public static ServicePlan Plan(ServicePlatform platform, ServiceAction action, ServiceContext context, bool socketActivation) => platform switch
    {
        ServicePlatform.Systemd => Systemd(action, context, socketActivation),
        ServicePlatform.Launchd => Launchd(action, context),
        _ => Windows(action, context),
    };

    // ---- systemd ----

    private static ServicePlan Systemd(ServiceAction action, ServiceContext context, bool socketActivation)
    {
        var service = Path.Combine(context.UnitDirectory, Name + ".service");
        var socket = Path.Combine(context.UnitDirectory, Name + ".socket");
        var unit = socketActivation ? Name + ".socket" : Name + ".service";
        ServiceCommand Systemctl(string purpose, params string[] args) => new("systemctl", ["--user", .. args], purpose);
        return action switch
        {
            ServiceAction.Install => new ServicePlan(ServicePlatform.Systemd, action,
                [
                    new ServiceFile(service, SystemdService(context, socketActivation), "the daemon's user unit"),
                    .. socketActivation ? [new ServiceFile(socket, SystemdSocket(context), "the socket that starts the daemon on the first connection")] : Array.Empty<ServiceFile>(),
                ],
                [
                    Systemctl("read the new unit files", "daemon-reload"),
                    Systemctl($"start {unit} at login", "enable", unit),
                ]),
            // Disabled while the unit files still exist: older systemd cannot disable (or stop) a unit whose file is gone.
            ServiceAction.Uninstall => new ServicePlan(ServicePlatform.Systemd, action,
                [new ServiceFile(service, null, "the daemon's user unit"), new ServiceFile(socket, null, "the activation socket, if installed")],
                [Systemctl("forget the removed unit files", "daemon-reload")])
            {
                Prepare =
                [
                    Systemctl("stop and disable the socket, if installed", "disable", "--now", Name + ".socket"),
                    Systemctl("stop and disable the daemon", "disable", "--now", Name + ".service"),
                ],
            },
            ServiceAction.Load => new ServicePlan(ServicePlatform.Systemd, action, [], [Systemctl(socketActivation ? "listen; the daemon starts on the first connection" : "start the daemon", "start", unit)]),
            ServiceAction.Unload => new ServicePlan(ServicePlatform.Systemd, action, [],
                [Systemctl("stop the daemon (and its socket, if installed)", "stop", Name + ".service", Name + ".socket")]),
            _ => new ServicePlan(ServicePlatform.Systemd, action, [],
                [Systemctl("the units' state", "status", "--no-pager", "--lines=0", Name + ".service", Name + ".socket")]),
        };
    }

    private static string SystemdService(ServiceContext context, bool socketActivation)
    {
        var text = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"# {Header}")
            .AppendLine("[Unit]")
            .AppendLine("Description=mcp-broker: the local MCP process broker");
        if (socketActivation)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Requires={Name}.socket")
                .AppendLine(CultureInfo.InvariantCulture, $"After={Name}.socket");
        }

        text.AppendLine()
            .AppendLine("[Service]")
            .AppendLine("Type=notify")
            .AppendLine("NotifyAccess=main")
            .AppendLine(CultureInfo.InvariantCulture, $"ExecStart={SystemdCommandLine([context.Executable, .. context.DaemonArguments])}")
            .AppendLine(CultureInfo.InvariantCulture, $"WorkingDirectory={SystemdPath(context.RuntimeRoot)}")
            .AppendLine("# The PATH of the shell that installed the unit, so upstream commands (npx, uvx, docker) resolve as they do there.")
            .AppendLine(CultureInfo.InvariantCulture, $"Environment={SystemdQuote("PATH=" + context.Path)}")
            .AppendLine("# Host variables that env_from reads (tokens) are not in a service's environment: put NAME=value lines in this")
            .AppendLine("# file (mode 0600), or use env_files. Optional: the unit starts without it.")
            .AppendLine(CultureInfo.InvariantCulture, $"EnvironmentFile=-{SystemdPath(Path.Combine(context.RuntimeRoot, "secrets", "service.env"))}")
            .AppendLine("Restart=on-failure")
            .AppendLine("RestartSec=2")
            .AppendLine("# The daemon stops its upstreams on SIGTERM; whatever is left after the timeout is killed.")
            .AppendLine("KillMode=mixed")
            .AppendLine("TimeoutStopSec=30")
            .AppendLine(CultureInfo.InvariantCulture, $"StandardOutput=append:{SystemdPath(Path.Combine(context.LogsDir, "daemon.stdout"))}")
            .AppendLine(CultureInfo.InvariantCulture, $"StandardError=append:{SystemdPath(Path.Combine(context.LogsDir, "daemon.stderr"))}")
            .AppendLine()
            .AppendLine("[Install]")
            .AppendLine("WantedBy=default.target");
        return text.ToString();
    }

    private static string SystemdSocket(ServiceContext context) => new StringBuilder()
        .AppendLine(CultureInfo.InvariantCulture, $"# {Header}")
        .AppendLine("[Unit]")
        .AppendLine("Description=mcp-broker socket: starts the daemon on the first connection")
        .AppendLine()
        .AppendLine("[Socket]")
        .AppendLine(CultureInfo.InvariantCulture, $"ListenStream={SystemdPath(context.SocketPath)}")
        .AppendLine("SocketMode=0600")
        .AppendLine("DirectoryMode=0700")
        .AppendLine("RemoveOnStop=true")
        .AppendLine()
        .AppendLine("[Install]")
        .AppendLine("WantedBy=sockets.target")
        .ToString();

    /// <summary>A path where systemd expands specifiers: '%' doubled; paths with spaces are fine in these settings.</summary>
    private static string SystemdPath(string path) => path.Replace("%", "%%", StringComparison.Ordinal);

    private static string SystemdCommandLine(IEnumerable<string> words) => string.Join(' ', words.Select(SystemdQuote));

    /// <summary>One word for ExecStart/Environment: double-quoted when needed, with '%' and '$' escaped (systemd.syntax(7)).</summary>
    private static string SystemdQuote(string word)
    {
        var escaped = word.Replace("%", "%%", StringComparison.Ordinal).Replace("$", "$$", StringComparison.Ordinal);
        return escaped.Length > 0 && escaped.All(c => !char.IsWhiteSpace(c) && c is not ('"' or '\'' or '\\' or ';'))
            ? escaped
            : "\"" + escaped.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    // ---- launchd ----

    private static ServicePlan Launchd(ServiceAction action, ServiceContext context)
    {
        var plist = Path.Combine(context.UnitDirectory, LaunchdLabel + ".plist");
        var domain = $"gui/{context.UserId.ToString(CultureInfo.InvariantCulture)}";
        ServiceCommand Launchctl(string purpose, params string[] args) => new("launchctl", args, purpose);
        return action switch
        {
            // bootstrap refuses an agent that is loaded: unload it first (which fails, harmlessly, when it is not).
            ServiceAction.Install => new ServicePlan(ServicePlatform.Launchd, action,
                [new ServiceFile(plist, LaunchAgent(context), "the LaunchAgent")],
                [Launchctl("load it now (and at every login)", "bootstrap", domain, plist)])
            {
                Prepare = [Launchctl("unload the agent if an earlier one is loaded", "bootout", $"{domain}/{LaunchdLabel}")],
            },
            ServiceAction.Uninstall => new ServicePlan(ServicePlatform.Launchd, action, [new ServiceFile(plist, null, "the LaunchAgent")], [])
            {
                Prepare = [Launchctl("stop the daemon and unload the agent", "bootout", $"{domain}/{LaunchdLabel}")],
            },
            ServiceAction.Load => new ServicePlan(ServicePlatform.Launchd, action, [], [Launchctl("load the agent (starts the daemon)", "bootstrap", domain, plist)])
            {
                Prepare = [Launchctl("unload the agent if it is loaded", "bootout", $"{domain}/{LaunchdLabel}")],
            },
            ServiceAction.Unload => new ServicePlan(ServicePlatform.Launchd, action, [], [Launchctl("unload the agent (stops the daemon)", "bootout", $"{domain}/{LaunchdLabel}")]),
            _ => new ServicePlan(ServicePlatform.Launchd, action, [], [Launchctl("the agent's state", "print", $"{domain}/{LaunchdLabel}")]),
        };
    }

    private static string LaunchAgent(ServiceContext context)
    {
        static XElement Key(string name) => new("key", name);
        static XElement String(string value) => new("string", value);
        var plist = new XDocument(
            new XDocumentType("plist", "-//Apple//DTD PLIST 1.0//EN", "http://www.apple.com/DTDs/PropertyList-1.0.dtd", null),
            new XComment($" {Header} "),
            new XElement("plist", new XAttribute("version", "1.0"),
                new XElement("dict",
                    Key("Label"), String(LaunchdLabel),
                    Key("ProgramArguments"), new XElement("array", new[] { context.Executable }.Concat(context.DaemonArguments).Select(String)),
                    Key("WorkingDirectory"), String(context.RuntimeRoot),
                    Key("EnvironmentVariables"), new XElement("dict", Key("PATH"), String(context.Path)),
                    Key("RunAtLoad"), new XElement("true"),
                    // Restarted when it fails, not after 'mcp-broker daemon stop' (a clean exit).
                    Key("KeepAlive"), new XElement("dict", Key("SuccessfulExit"), new XElement("false")),
                    Key("ThrottleInterval"), new XElement("integer", "5"),
                    Key("ProcessType"), String("Background"),
                    Key("StandardOutPath"), String(Path.Combine(context.LogsDir, "daemon.stdout")),
                    Key("StandardErrorPath"), String(Path.Combine(context.LogsDir, "daemon.stderr")))));
        return Serialize(plist);
    }

    // ---- Windows ----

    private static ServicePlan Windows(ServiceAction action, ServiceContext context)
    {
        // Joined the Windows way even when the plan is rendered elsewhere (a dry run on Linux for a Windows machine).
        var xml = context.UnitDirectory.TrimEnd('\\') + "\\" + Name + ".task.xml";
        var script = context.UnitDirectory.TrimEnd('\\') + "\\register-task.ps1";
        ServiceCommand PowerShell(string purpose, string command) => new("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", command], purpose);
        return action switch
        {
            ServiceAction.Install => new ServicePlan(ServicePlatform.Windows, action,
                [
                    new ServiceFile(xml, WindowsTask(context), "the Scheduled Task (starts the daemon at logon)"),
                    new ServiceFile(script, RegisterScript(xml), "the PowerShell that registers it"),
                ],
                [new ServiceCommand("powershell.exe", ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", script], "register the task")]),
            ServiceAction.Uninstall => new ServicePlan(ServicePlatform.Windows, action,
                [new ServiceFile(xml, null, "the task definition"), new ServiceFile(script, null, "the registration script")], [])
            {
                Prepare = [PowerShell("stop and unregister the task", $"Stop-ScheduledTask -TaskName '{Name}' -ErrorAction SilentlyContinue; Unregister-ScheduledTask -TaskName '{Name}' -Confirm:$false")],
            },
            ServiceAction.Load => new ServicePlan(ServicePlatform.Windows, action, [], [PowerShell("start the daemon now", $"Start-ScheduledTask -TaskName '{Name}'")]),
            ServiceAction.Unload => new ServicePlan(ServicePlatform.Windows, action, [], [PowerShell("stop the daemon", $"Stop-ScheduledTask -TaskName '{Name}'")]),
            _ => new ServicePlan(ServicePlatform.Windows, action, [], [PowerShell("the task's state", $"Get-ScheduledTask -TaskName '{Name}' | Get-ScheduledTaskInfo | Format-List")]),
        };
    }

    private static string WindowsTask(ServiceContext context)
    {
        XNamespace ns = "http://schemas.microsoft.com/windows/2004/02/mit/task";
        var task = new XDocument(
            new XComment($" {Header} "),
            new XElement(ns + "Task", new XAttribute("version", "1.2"),
                new XElement(ns + "RegistrationInfo",
                    new XElement(ns + "Description", "mcp-broker: the local MCP process broker"),
                    new XElement(ns + "URI", "\\" + Name)),
                new XElement(ns + "Triggers",
                    new XElement(ns + "LogonTrigger", new XElement(ns + "Enabled", "true"), new XElement(ns + "UserId", context.UserName))),
                new XElement(ns + "Principals",
                    new XElement(ns + "Principal", new XAttribute("id", "Author"),
                        new XElement(ns + "UserId", context.UserName),
                        new XElement(ns + "LogonType", "InteractiveToken"),
                        new XElement(ns + "RunLevel", "LeastPrivilege"))),
                new XElement(ns + "Settings",
                    new XElement(ns + "MultipleInstancesPolicy", "IgnoreNew"),
                    new XElement(ns + "DisallowStartIfOnBatteries", "false"),
                    new XElement(ns + "StopIfGoingOnBatteries", "false"),
                    new XElement(ns + "ExecutionTimeLimit", "PT0S"),
                    new XElement(ns + "RestartOnFailure", new XElement(ns + "Interval", "PT1M"), new XElement(ns + "Count", "3")),
                    new XElement(ns + "Hidden", "true")),
                new XElement(ns + "Actions", new XAttribute("Context", "Author"),
                    new XElement(ns + "Exec",
                        new XElement(ns + "Command", context.Executable),
                        new XElement(ns + "Arguments", string.Join(' ', context.DaemonArguments.Select(WindowsQuote))),
                        new XElement(ns + "WorkingDirectory", context.RuntimeRoot)))));
        return Serialize(task);
    }

    private static string RegisterScript(string xmlPath) => new StringBuilder()
        .AppendLine(CultureInfo.InvariantCulture, $"# {Header}")
        .AppendLine("$ErrorActionPreference = 'Stop'")
        .AppendLine(CultureInfo.InvariantCulture, $"$xml = Get-Content -Raw -LiteralPath '{xmlPath.Replace("'", "''", StringComparison.Ordinal)}'")
        .AppendLine(CultureInfo.InvariantCulture, $"Register-ScheduledTask -TaskName '{Name}' -Xml $xml -Force | Out-Null")
        .AppendLine(CultureInfo.InvariantCulture, $"Write-Output \"registered the scheduled task '{Name}'; it starts the daemon at logon (Start-ScheduledTask -TaskName '{Name}' starts it now)\"")
        .ToString();

    /// <summary>A word for a Windows command line (CommandLineToArgvW rules).</summary>
    private static string WindowsQuote(string word)
    {
        if (word.Length > 0 && !word.Any(c => char.IsWhiteSpace(c) || c == '"'))
        {
            return word;
        }

        var quoted = new StringBuilder("\"");
        var backslashes = 0;
        foreach (var c in word)
        {
            if (c == '\\')
            {
                backslashes++;
                continue;
            }

            quoted.Append('\\', c == '"' ? (backslashes * 2) + 1 : backslashes).Append(c);
            backslashes = 0;
        }

        return quoted.Append('\\', backslashes * 2).Append('"').ToString();
    }

    private static string Serialize(XDocument document)
    {
        var settings = new System.Xml.XmlWriterSettings { Indent = true, IndentChars = "  ", Encoding = new UTF8Encoding(false), NewLineChars = "\n" };
        using var stream = new MemoryStream();
        using (var writer = System.Xml.XmlWriter.Create(stream, settings))
        {
            document.Save(writer);
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
