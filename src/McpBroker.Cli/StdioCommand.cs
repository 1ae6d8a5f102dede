using System.CommandLine;
using System.Diagnostics;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Shim;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker stdio [--profile P] [--init-if-missing]</c>: one command that is the whole broker, for MCPB bundles,
/// containers and single-entry installs. It speaks MCP on stdin/stdout like the shim. With a daemon running for the
/// config it is just the shim; without one it runs the daemon in this process (other clients may use it meanwhile)
/// and, when its client goes away, stops it and every upstream it started. It never stops a daemon it did not start.
/// </summary>
internal sealed class StdioCommand(TextWriter error)
{
    /// <summary><c>stdio [--profile NAME] [--client NAME] [--init-if-missing]</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var profile = CommonOptions.Profile("The profile this session uses", "default");
        var client = new Option<string>("--client") { Description = "The client's name, shown in status and logs", HelpName = "NAME", DefaultValueFactory = _ => "stdio" };
        var initIfMissing = new Option<bool>("--init-if-missing") { Description = "Write the starter config first if the config file does not exist" };
        var stdio = new Command("stdio", "Serve the whole broker on stdin/stdout, for bundles and containers") { profile, client, initIfMissing };
        stdio.SetAction((r, ct) => new StdioCommand(r.Error()).RunAsync(r.GetValue(config), r.GetValue(profile)!, r.GetValue(client)!, r.GetValue(initIfMissing), ct));
        return stdio;
    }

    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(60);

    public async Task<int> RunAsync(string? configOption, string profile, string client, bool initIfMissing, CancellationToken ct)
    {
        var path = ConfigLoader.ResolvePath(configOption);
        if (!File.Exists(path) && initIfMissing)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, ConfigLoader.StarterYaml, ct);
            await error.WriteLineAsync($"mcp-broker: wrote the starter config {path}; edit it to add your MCP servers");
        }

        if (CommandConfig.Load(path, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        DaemonCommands.ExportSelfForShim();
        string[] shimArgs = ["--profile", profile, "--config", model.SourcePath, "--client", client];
        if (await DaemonClient.ControlAsync(model.Runtime.SocketPath, "ping", TimeSpan.FromSeconds(2)) is { Ok: true })
        {
            return await ShimEntry.RunAsync(shimArgs);
        }

        // No daemon: this process is the daemon for as long as its client stays. Its log goes to the file, never to
        // stdout, which belongs to the MCP session.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        string? startError = null;
        var daemon = Task.Run(() => DaemonHost.RunAsync(model, logToFile: true, failure => startError = failure.Message, stop.Token), CancellationToken.None);
        var waited = Stopwatch.StartNew();
        while (await DaemonClient.ControlAsync(model.Runtime.SocketPath, "ping", TimeSpan.FromSeconds(2)) is not { Ok: true })
        {
            if (daemon.IsCompleted)
            {
                // Another process won the race to start a daemon for this root: use it.
                if (await daemon == ExitCodes.AlreadyRunning)
                {
                    return await ShimEntry.RunAsync(shimArgs);
                }

                await error.WriteLineAsync($"mcp-broker: the in-process daemon did not start: {startError ?? "see 'mcp-broker logs'"}");
                return ExitCodes.Failure;
            }

            if (waited.Elapsed > s_readyTimeout || ct.IsCancellationRequested)
            {
                await stop.CancelAsync();
                await daemon;
                await error.WriteLineAsync($"mcp-broker: the in-process daemon did not answer on {model.Runtime.SocketPath} within {s_readyTimeout.TotalSeconds:0} s; see 'mcp-broker logs'");
                return ExitCodes.Failure;
            }

            await Task.WhenAny(daemon, Task.Delay(TimeSpan.FromMilliseconds(25), CancellationToken.None));
        }

        // The session ends when its client closes stdin, or when the daemon stops (SIGTERM, 'mcp-broker daemon stop').
        // Bound to this socket, the shim never starts a daemon of its own once this one is gone.
        var session = ShimEntry.RunAsync([.. shimArgs, "--socket", model.Runtime.SocketPath]);
        var first = await Task.WhenAny(session, daemon);
        await stop.CancelAsync();
        await daemon;
        return first == session ? await session : ExitCodes.Ok;
    }
}
