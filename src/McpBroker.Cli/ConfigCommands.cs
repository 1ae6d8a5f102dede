using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Cli;

internal static class ConfigCommands
{
    public static int Init(string? configOption, bool force, bool dryRun = false)
    {
        var path = ConfigLoader.ResolvePath(configOption);
        if (File.Exists(path) && !force)
        {
            Console.Error.WriteLine($"mcp-broker: {path} already exists; pass --force to overwrite it");
            return 1;
        }

        if (dryRun)
        {
            Console.Write(ConfigLoader.StarterYaml);
            Console.Error.WriteLine($"(dry run: this is what 'mcp-broker config init' would write to {path}; nothing was written)");
            return 0;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, ConfigLoader.StarterYaml);
        Console.WriteLine($"wrote {path}");
        Console.WriteLine("next: mcp-broker config validate, then point a client at 'mcp-broker-client --profile default'");
        return 0;
    }

    public static int Validate(string? configOption, bool json = false)
    {
        var result = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        if (json)
        {
            // One object on stdout: every issue with its YAML path; the exit code as without --json.
            JsonArray Issues(IEnumerable<ConfigIssue> issues) => [.. issues.Select(i => (JsonNode)new JsonObject { ["path"] = i.Path, ["message"] = i.Message })];
            Console.WriteLine(new JsonObject
            {
                ["path"] = result.Path,
                ["valid"] = result.IsValid,
                ["missing"] = result.Missing ? true : null,
                ["upstreams"] = result.Model?.Upstreams.Count,
                ["profiles"] = result.Model?.Profiles.Count,
                ["errors"] = Issues(result.Errors),
                ["warnings"] = Issues(result.Warnings),
            }.ToJsonString());
            return result.IsValid ? 0 : 1;
        }

        foreach (var issue in result.Issues)
        {
            Console.Error.WriteLine(issue);
        }

        if (!result.IsValid)
        {
            Console.Error.WriteLine($"{result.Path}: invalid ({result.Errors.Count()} error(s))");
            return 1;
        }

        var model = result.Model!;
        Console.WriteLine($"{result.Path}: valid — {model.Upstreams.Count} upstream(s), {model.Profiles.Count} profile(s)"
            + (result.Warnings.Any() ? $", {result.Warnings.Count()} warning(s)" : ""));
        return 0;
    }

    public static int Show(string? configOption)
    {
        if (Load(configOption) is not { } model)
        {
            return 1;
        }

        Console.Write(ConfigShow.Render(model));
        return 0;
    }

    public static int Schema()
    {
        Console.Write(ConfigSchema.ToJson());
        return 0;
    }

    /// <summary>
    /// Finds the daemon for a command that only talks to it or reads its files (status, stop, reload, restart, reap,
    /// logs). An invalid config still names its runtime root, so a half-finished edit does not lock the operator out
    /// of the daemon that runs on the last good one; a warning says the file needs fixing.
    /// </summary>
    public static DaemonTarget? LoadTarget(string? configOption) => LoadTarget(configOption, out _);

    /// <param name="missing">There is no config file and no daemon running for that path (a first run).</param>
    public static DaemonTarget? LoadTarget(string? configOption, out bool missing)
    {
        var result = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        missing = false;
        var running = RunningRoot(result.Path);
        if (result.Model is { } model)
        {
            if (running is not null && running != model.Runtime.Root)
            {
                // runtime.root was changed under a running daemon (which keeps its root until restarted): reach that one.
                Console.Error.WriteLine($"mcp-broker: note: the daemon of {result.Path} runs with runtime root {running}; the file now says {model.Runtime.Root}, which takes effect when it restarts");
                return new DaemonTarget(result.Path, new RuntimeModel(running), model);
            }

            return new DaemonTarget(result.Path, model.Runtime, model);
        }

        if ((result.Runtime?.Root ?? running) is not { } root)
        {
            missing = result.Missing;
            ReportInvalid(result);
            return null;
        }

        Console.Error.WriteLine($"mcp-broker: warning: {result.Path} has {result.Errors.Count()} error(s) ('mcp-broker config validate' lists them); using the runtime root {root}");
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
    public static BrokerModel? Load(string? configOption)
    {
        var result = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        if (result.IsValid)
        {
            return result.Model;
        }

        ReportInvalid(result);
        return null;
    }

    private static void ReportInvalid(ConfigLoadResult result)
    {
        if (result.Missing)
        {
            Console.Error.WriteLine($"mcp-broker: {ConfigLoader.MissingMessage(result.Path)}");
            return;
        }

        foreach (var issue in result.Issues)
        {
            Console.Error.WriteLine(issue);
        }

        Console.Error.WriteLine($"mcp-broker: {result.Path} is invalid; fix the errors above ('mcp-broker config validate' checks it)");
    }
}

/// <summary>Where a command finds the daemon: the config file, its runtime root, and the model when the file is valid.</summary>
internal sealed record DaemonTarget(string ConfigPath, RuntimeModel Runtime, BrokerModel? Model);
