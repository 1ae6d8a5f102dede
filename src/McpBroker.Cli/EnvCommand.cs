using McpBroker.Config;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

/// <summary>
/// <c>daemon env [--capture]</c>: shows where the daemon's environment comes from and the names it sets (never values),
/// or captures it from this shell (<see cref="DaemonEnvironment"/>). A running daemon reads a new capture when it next starts.
/// </summary>
internal static class EnvCommand
{
    public static int Run(string? configOption, bool capture)
    {
        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        if (capture)
        {
            var names = DaemonEnvironment.Capture(model, "mcp-broker daemon env --capture, from the shell");
            Console.WriteLine($"captured {names.Count} variable(s) into {DaemonEnvironment.PathOf(model.Runtime)}: {string.Join(", ", names)}");
            var missing = model.Upstreams.SelectMany(u => u.EnvFrom.Select(e => (Upstream: u.Name, e.Key, Variable: e.Value)))
                .Where(e => Environment.GetEnvironmentVariable(e.Variable) is null).ToList();
            foreach (var (upstream, key, variable) in missing)
            {
                Console.WriteLine($"not set here: {variable} (upstreams.{upstream}.env_from.{key}); set it and capture again, or add it to {Path.Combine(model.Runtime.SecretsDir, DaemonEnvironment.ServiceFileName)}");
            }

            Console.WriteLine("a running daemon keeps its environment until it restarts: mcp-broker daemon stop (the next client starts it again)");
            return 0;
        }

        if (DaemonEnvironment.Read(model.Runtime) is not { } environment)
        {
            Console.WriteLine($"nothing captured yet ({DaemonEnvironment.PathOf(model.Runtime)}): the first daemon start captures the environment it is started with; capture it from your shell now with: mcp-broker daemon env --capture");
            return 0;
        }

        Console.WriteLine(Describe(environment));
        Console.WriteLine($"variables: {string.Join(", ", environment.Names)}");
        return 0;
    }

    /// <summary>One line for status and doctor: the file, where it came from and when.</summary>
    internal static string Describe(DaemonEnvironment environment) =>
        $"environment {environment.File}: {environment.Source}" + (environment.CapturedAt is { } at ? $", {at:yyyy-MM-dd HH:mm} UTC" : "")
        + (environment.ServiceFile ? $", with {DaemonEnvironment.ServiceFileName}" : "");
}
