using System.Diagnostics;
using System.Reflection;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Platform;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

internal static class DaemonCommands
{
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(25);

    public static async Task<int> RunAsync(string? configOption, bool detach, bool background, bool logFile, CancellationToken ct)
    {
        if (background)
        {
            // Started by --detach: leave the caller's session and terminal before anything else.
            Native.StartNewSession();
            Native.DetachStandardStreams();
        }

        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        if (background)
        {
            model.Runtime.EnsureCreated();
            Native.RedirectStandardError(Path.Combine(model.Runtime.LogsDir, "daemon.stderr"));
        }

        foreach (var warning in model.Warnings)
        {
            Console.Error.WriteLine(warning);
        }

        if (detach)
        {
            return await DetachAsync(model);
        }

        return await DaemonHost.RunAsync(model, logToFile: background || logFile, error => Report(model, error.Message, background), ct);
    }

    public static async Task<int> StopAsync(string? configOption)
    {
        if (ConfigCommands.LoadTarget(configOption) is not { } target)
        {
            return 1;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "stop", TimeSpan.FromSeconds(5));
        if (answer is not { Ok: true, DaemonPid: { } pid })
        {
            Console.WriteLine($"no daemon is running for {target.Runtime.Root}");
            return 0;
        }

        var deadline = Stopwatch.StartNew();
        while (Native.ProcessAlive(pid))
        {
            if (deadline.Elapsed > s_stopTimeout)
            {
                Console.Error.WriteLine($"mcp-broker: the daemon (pid {pid}) did not stop within {s_stopTimeout.TotalSeconds:0} s; 'kill {pid}' ends it");
                return 1;
            }

            await Task.Delay(s_poll);
        }

        Console.WriteLine($"stopped the daemon (pid {pid}) and its upstreams");
        return 0;
    }

    /// <summary>Asks the running daemon to read its config again now (it also watches the file).</summary>
    public static async Task<int> ReloadAsync(string? configOption)
    {
        if (ConfigCommands.LoadTarget(configOption) is not { } target)
        {
            return 1;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "reload", TimeSpan.FromSeconds(60));
        if (answer is null)
        {
            Console.WriteLine($"no daemon is running for {target.Runtime.Root}; the next one reads the config as it is");
            return 0;
        }

        if (answer.Ok)
        {
            Console.WriteLine(answer.Message);
            return 0;
        }

        Console.Error.WriteLine($"mcp-broker: {answer.Error?.Message}");
        return 1;
    }

    public static async Task<int> ReapAsync(string? configOption, bool json = false)
    {
        if (ConfigCommands.LoadTarget(configOption) is not { } target)
        {
            return 1;
        }

        var results = await new ProcessRecords(target.Runtime.RunDir).ReapOrphansAsync();
        if (json)
        {
            Console.WriteLine(new System.Text.Json.Nodes.JsonObject
            {
                ["reaped"] = new System.Text.Json.Nodes.JsonArray([.. results.Select(r => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
                {
                    ["upstream"] = r.Record.Upstream, ["pid"] = r.Record.Pid, ["pgid"] = r.Record.Pgid, ["owner_pid"] = r.Record.OwnerPid, ["outcome"] = r.Outcome,
                })]),
            }.ToJsonString());
            return results.Any(r => r.Outcome.StartsWith("still running", StringComparison.Ordinal)) ? 1 : 0;
        }

        foreach (var r in results)
        {
            Console.WriteLine($"{r.Record.Upstream}: pid {r.Record.Pid}{(r.Record.Pgid > 0 ? $" (group {r.Record.Pgid})" : "")} left by dead daemon {r.Record.OwnerPid}: {r.Outcome}");
        }

        Console.WriteLine(results.Count == 0 ? "nothing to reap" : $"reaped {results.Count} orphaned upstream process(es)");
        return results.Any(r => r.Outcome.StartsWith("still running", StringComparison.Ordinal)) ? 1 : 0;
    }

    public static async Task<int> RestartUpstreamAsync(string? configOption, string upstream)
    {
        if (ConfigCommands.LoadTarget(configOption) is not { } target)
        {
            return 1;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "restart", TimeSpan.FromSeconds(30), upstream);
        switch (answer)
        {
            case null:
                Console.Error.WriteLine($"mcp-broker: no daemon is running for {target.Runtime.Root}; it starts upstreams fresh when it starts");
                return 1;
            case { Ok: true }:
                Console.WriteLine(answer.Message);
                return 0;
            default:
                Console.Error.WriteLine($"mcp-broker: {answer.Error?.Message}");
                return 1;
        }
    }

    /// <summary>Starts a background daemon unless one answers, waits until it does, and prints its socket path.</summary>
    internal static async Task<int> DetachAsync(BrokerModel model, bool quiet = false)
    {
        var socket = model.Runtime.SocketPath;
        Process? child = null;
        try
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < s_readyTimeout)
            {
                if (await DaemonClient.ControlAsync(socket, "ping", TimeSpan.FromSeconds(2)) is { Ok: true })
                {
                    Announce(socket);
                    return 0;
                }

                // Start one only when nothing listens. A socket that accepts but does not answer yet is a daemon still
                // starting, or systemd starting one for this very connection: a second daemon would race it for the lock.
                if (child is null && !await DaemonClient.ListeningAsync(socket, TimeSpan.FromSeconds(2)))
                {
                    child = StartBackground(model);
                }

                // Exit code 3: another daemon won the race for the lock; wait for it to answer instead.
                if (child is { HasExited: true } && child.ExitCode != DaemonHost.ExitAlreadyRunning)
                {
                    Console.Error.WriteLine($"mcp-broker: the daemon exited with code {child.ExitCode} while starting; {LastLogLine(model)}");
                    return 1;
                }

                await Task.Delay(s_poll);
            }
        }
        finally
        {
            child?.Dispose();
        }

        Console.Error.WriteLine($"mcp-broker: the daemon did not answer on {socket} within {s_readyTimeout.TotalSeconds:0} s; {LastLogLine(model)}");
        return 1;

        void Announce(string path)
        {
            if (!quiet)
            {
                Console.WriteLine(path);
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

    private static void Report(BrokerModel model, string message, bool background)
    {
        Console.Error.WriteLine($"mcp-broker: {message}");
        if (background)
        {
            Directory.CreateDirectory(model.Runtime.LogsDir);
            File.AppendAllText(Path.Combine(model.Runtime.LogsDir, "daemon.log"), $"{DateTimeOffset.UtcNow:O} ERRO {message}\n");
        }
    }
}
