using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary>How a command finds its config and its daemon; what is wrong goes to the invocation's error writer.</summary>
internal static class CommandConfig
{
    /// <summary>
    /// Finds the daemon for a command that only talks to it or reads its files (status, stop, reload, restart, reap,
    /// logs). An invalid config still names its runtime root, so a half-finished edit does not lock the operator out
    /// of the daemon that runs on the last good one; a warning says the file needs fixing.
    /// </summary>
    public static DaemonTarget? LoadTarget(string? configOption, TextWriter error) => LoadTarget(configOption, error, out _);

    /// <param name="missing">There is no config file and no daemon running for that path (a first run).</param>
    public static DaemonTarget? LoadTarget(string? configOption, TextWriter error, out bool missing)
    {
        var result = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        missing = false;
        var running = RunningRoot(result.Path);
        if (result.Model is { } model)
        {
            if (running is not null && running != model.Runtime.Root)
            {
                // runtime.root was changed under a running daemon (which keeps its root until restarted): reach that one.
                error.WriteLine($"mcp-broker: note: the daemon of {result.Path} runs with runtime root {running}; the file now says {model.Runtime.Root}, which takes effect when it restarts");
                return new DaemonTarget(result.Path, new RuntimeModel(running), model);
            }

            return new DaemonTarget(result.Path, model.Runtime, model);
        }

        if ((result.Runtime?.Root ?? running) is not { } root)
        {
            missing = result.Missing;
            ReportInvalid(result, error);
            return null;
        }

        error.WriteLine($"mcp-broker: warning: {result.Path} has {result.Errors.Count()} error(s) ('mcp-broker config validate' lists them); using the runtime root {root}");
        return new DaemonTarget(result.Path, running is not null ? new RuntimeModel(running) : result.Runtime!, null);
    }

    /// <summary>
    /// The runtime root of the daemon running for this config file, from the pointer it keeps (its socket path, which
    /// is {root}/sockets/broker.sock), when that socket exists; null otherwise.
    /// </summary>
    private static string? RunningRoot(string configPath)
    {
        try
        {
            var pointer = Shared.BrokerEndpoints.PointerPath(configPath);
            var socket = File.Exists(pointer) ? File.ReadAllText(pointer).Trim() : null;
            return socket is { Length: > 0 } && File.Exists(socket) && Path.GetDirectoryName(Path.GetDirectoryName(socket)) is { } root ? root : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Loads the config for a command that needs a valid one; prints the errors and returns null otherwise.</summary>
    public static BrokerModel? Load(string? configOption, TextWriter error)
    {
        var result = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        if (result.IsValid)
        {
            return result.Model;
        }

        ReportInvalid(result, error);
        return null;
    }

    private static void ReportInvalid(ConfigLoadResult result, TextWriter error)
    {
        if (result.Missing)
        {
            error.WriteLine($"mcp-broker: {ConfigLoader.MissingMessage(result.Path)}");
            return;
        }

        foreach (var issue in result.Issues)
        {
            error.WriteLine(issue);
        }

        error.WriteLine($"mcp-broker: {result.Path} is invalid; fix the errors above ('mcp-broker config validate' checks it)");
    }
}
