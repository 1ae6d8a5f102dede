using System.CommandLine;
using System.Diagnostics;
using System.Reflection;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Platform;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

internal sealed class DaemonCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>daemon [--detach]</c> and <c>daemon stop|reload|reap|env</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var detach = new Option<bool>("--detach") { Description = "Start in the background (if none is running) and print the socket path" };
        var background = new Option<bool>("--background") { Hidden = true };
        var logFile = new Option<bool>("--log-file") { Description = "Log to {runtime.root}/logs/daemon.log (JSON lines, rotated) instead of stderr" };
        var daemon = new Command("daemon", "Run the broker daemon in the foreground") { detach, background, logFile };
        daemon.SetAction((r, ct) => new DaemonCommands(r.Output(), r.Error()).RunAsync(r.GetValue(config), r.GetValue(detach), r.GetValue(background), r.GetValue(logFile), ct));

        var stop = new Command("stop", "Stop the daemon and every upstream it runs");
        stop.SetAction((r, ct) => new DaemonCommands(r.Output(), r.Error()).StopAsync(r.GetValue(config), ct));

        var reload = new Command("reload", "Make the running daemon apply its config now");
        reload.SetAction((r, ct) => new DaemonCommands(r.Output(), r.Error()).ReloadAsync(r.GetValue(config), ct));

        var reapJson = CommonOptions.Json("Print one JSON object: each process reaped and how");
        var reap = new Command("reap", "Stop upstream processes left behind by a daemon that died") { reapJson };
        reap.SetAction((r, ct) => new DaemonCommands(r.Output(), r.Error()).ReapAsync(r.GetValue(config), r.GetValue(reapJson), ct));

        var capture = new Option<bool>("--capture") { Description = "Capture it now from this shell (PATH, locale, proxies, caches and every variable an env_from names)" };
        var envJson = CommonOptions.Json("Print one JSON object: the file, where it came from, the variable names (never values)");
        var env = new Command("env", "Show where the daemon's environment comes from") { capture, envJson };
        env.SetAction(r => new EnvCommand(r.Output(), r.Error()).Run(r.GetValue(config), r.GetValue(capture), r.GetValue(envJson)));

        daemon.Subcommands.Add(stop);
        daemon.Subcommands.Add(reload);
        daemon.Subcommands.Add(reap);
        daemon.Subcommands.Add(env);
        return daemon;
    }

    /// <summary><c>upstream restart NAME</c>.</summary>
    public static Command CreateUpstream(Option<string?> config)
    {
        var name = new Argument<string>("NAME") { Description = "Upstream name, as in the config" };
        var restart = new Command("restart", "Close an upstream's circuit and restart it on its next request") { name };
        restart.SetAction((r, ct) => new DaemonCommands(r.Output(), r.Error()).RestartUpstreamAsync(r.GetValue(config), r.GetValue(name)!, ct));
        return new Command("upstream", "Act on one upstream of the running daemon") { restart };
    }

    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(25);

    public async Task<int> RunAsync(string? configOption, bool detach, bool background, bool logFile, CancellationToken ct)
    {
        if (background)
        {
            // Started by --detach: leave the caller's session and terminal before anything else.
            Native.StartNewSession();
            Native.DetachStandardStreams();
        }

        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (background)
        {
            model.Runtime.EnsureCreated();
            Native.RedirectStandardError(Path.Combine(model.Runtime.LogsDir, "daemon.stderr"));
        }

        foreach (var warning in model.Warnings)
        {
            error.WriteLine(warning);
        }

        if (detach)
        {
            return await DetachAsync(model, ct);
        }

        return await DaemonHost.RunAsync(model, logToFile: background || logFile, failure => Report(model, failure.Message, background), ct);
    }

    public async Task<int> StopAsync(string? configOption, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error) is not { } target)
        {
            return ExitCodes.Failure;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "stop", TimeSpan.FromSeconds(5), cancellationToken: ct);
        if (answer is not { Ok: true, DaemonPid: { } pid })
        {
            output.WriteLine($"no daemon is running for {target.Runtime.Root}");
            return ExitCodes.Ok;
        }

        var deadline = Stopwatch.StartNew();
        while (Native.ProcessAlive(pid))
        {
            if (deadline.Elapsed > s_stopTimeout)
            {
                error.WriteLine($"mcp-broker: the daemon (pid {pid}) did not stop within {s_stopTimeout.TotalSeconds:0} s; 'kill {pid}' ends it");
                return ExitCodes.Failure;
            }

            await Task.Delay(s_poll, ct);
        }

        output.WriteLine($"stopped the daemon (pid {pid}) and its upstreams");
        return ExitCodes.Ok;
    }

    /// <summary>Asks the running daemon to read its config again now (it also watches the file).</summary>
    public async Task<int> ReloadAsync(string? configOption, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error) is not { } target)
        {
            return ExitCodes.Failure;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "reload", TimeSpan.FromSeconds(60), cancellationToken: ct);
        if (answer is null)
        {
            output.WriteLine($"no daemon is running for {target.Runtime.Root}; the next one reads the config as it is");
            return ExitCodes.Ok;
        }

        if (answer.Ok)
        {
            output.WriteLine(answer.Message);
            return ExitCodes.Ok;
        }

        error.WriteLine($"mcp-broker: {answer.Error?.Message}");
        return ExitCodes.Failure;
    }

    public async Task<int> ReapAsync(string? configOption, bool json, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error) is not { } target)
        {
            return ExitCodes.Failure;
        }

        var results = await new ProcessRecords(target.Runtime.RunDir).ReapOrphansAsync(ct);
        if (json)
        {
            output.WriteLine(new System.Text.Json.Nodes.JsonObject
            {
                ["reaped"] = new System.Text.Json.Nodes.JsonArray([.. results.Select(r => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
                {
                    ["upstream"] = r.Record.Upstream, ["pid"] = r.Record.Pid, ["pgid"] = r.Record.Pgid, ["owner_pid"] = r.Record.OwnerPid, ["outcome"] = r.Outcome,
                })]),
            }.ToJsonString());
            return results.Any(r => r.Outcome.StartsWith("still running", StringComparison.Ordinal)) ? ExitCodes.Failure : ExitCodes.Ok;
        }

        foreach (var r in results)
        {
            output.WriteLine($"{r.Record.Upstream}: pid {r.Record.Pid}{(r.Record.Pgid > 0 ? $" (group {r.Record.Pgid})" : "")} left by dead daemon {r.Record.OwnerPid}: {r.Outcome}");
        }

        output.WriteLine(results.Count == 0 ? "nothing to reap" : $"reaped {results.Count} orphaned upstream process(es)");
        return results.Any(r => r.Outcome.StartsWith("still running", StringComparison.Ordinal)) ? ExitCodes.Failure : ExitCodes.Ok;
    }

    public async Task<int> RestartUpstreamAsync(string? configOption, string upstream, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error) is not { } target)
        {
            return ExitCodes.Failure;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "restart", TimeSpan.FromSeconds(30), upstream, cancellationToken: ct);
        switch (answer)
        {
            case null:
                error.WriteLine($"mcp-broker: no daemon is running for {target.Runtime.Root}; it starts upstreams fresh when it starts");
                return ExitCodes.Failure;
            case { Ok: true }:
                output.WriteLine(answer.Message);
                return ExitCodes.Ok;
            default:
                error.WriteLine($"mcp-broker: {answer.Error?.Message}");
                return ExitCodes.Failure;
        }
    }

    /// <summary>Starts a background daemon unless one answers, waits until it does, and prints its socket path.</summary>
    internal async Task<int> DetachAsync(BrokerModel model, CancellationToken ct, bool quiet = false)
    {
        var socket = model.Runtime.SocketPath;
        Process? child = null;
        try
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < s_readyTimeout)
            {
                if (await DaemonClient.ControlAsync(socket, "ping", TimeSpan.FromSeconds(2), cancellationToken: ct) is { Ok: true })
                {
                    Announce(socket);
                    return ExitCodes.Ok;
                }

                // Start one only when nothing listens. A socket that accepts but does not answer yet is a daemon still
                // starting, or systemd starting one for this very connection: a second daemon would race it for the lock.
                if (child is null && !await DaemonClient.ListeningAsync(socket, TimeSpan.FromSeconds(2), ct))
                {
                    child = StartBackground(model);
                }

                // Exit code 3: another daemon won the race for the lock; wait for it to answer instead.
                if (child is { HasExited: true } && child.ExitCode != ExitCodes.AlreadyRunning)
                {
                    error.WriteLine($"mcp-broker: the daemon exited with code {child.ExitCode} while starting; {LastLogLine(model)}");
                    return ExitCodes.Failure;
                }

                await Task.Delay(s_poll, ct);
            }
        }
        finally
        {
            child?.Dispose();
        }

        error.WriteLine($"mcp-broker: the daemon did not answer on {socket} within {s_readyTimeout.TotalSeconds:0} s; {LastLogLine(model)}");
        return ExitCodes.Failure;

        void Announce(string path)
        {
            if (!quiet)
            {
                output.WriteLine(path);
            }
        }
    }

    private static Process StartBackground(BrokerModel model)
    {
        model.Runtime.EnsureCreated();
        var (fileName, prefix) = SelfCommand();
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = model.Runtime.Root,
        };
        foreach (var arg in prefix.Concat(["daemon", "--background", "--config", model.SourcePath]))
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    /// <summary>
    /// Before the shim runs in this process: it starts a missing daemon with the CLI it finds beside itself or on
    /// PATH, which a .NET tool install has neither of (only the versioned dll); name this very executable instead.
    /// </summary>
    internal static void ExportSelfForShim()
    {
        var (fileName, prefix) = SelfCommand();
        if (prefix.Length == 0 && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MCP_BROKER_CLI")))
        {
            Environment.SetEnvironmentVariable("MCP_BROKER_CLI", fileName);
        }
    }

    /// <summary>How to run this CLI again: the apphost, or 'dotnet mcp-broker.dll' when started through dotnet.</summary>
    internal static (string FileName, string[] Prefix) SelfCommand()
    {
        var process = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [Path.Combine(AppContext.BaseDirectory, "mcp-broker.dll")])
            : (process, []);
    }

    private static string LastLogLine(BrokerModel model)
    {
        var log = Path.Combine(model.Runtime.LogsDir, "daemon.log");
        var last = File.Exists(log) ? File.ReadLines(log).LastOrDefault() : null;
        return last is null ? $"see {log}" : $"{log} ends with: {last}";
    }

    private void Report(BrokerModel model, string message, bool background)
    {
        error.WriteLine($"mcp-broker: {message}");
        if (background)
        {
            Directory.CreateDirectory(model.Runtime.LogsDir);
            File.AppendAllText(Path.Combine(model.Runtime.LogsDir, "daemon.log"), $"{DateTimeOffset.UtcNow:O} ERRO {message}\n");
        }
    }
}
