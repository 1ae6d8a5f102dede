using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

/// <summary>
/// <c>daemon env [--capture]</c>: shows where the daemon's environment comes from and the names it sets (never values),
/// or captures it from this shell (<see cref="DaemonEnvironment"/>). A running daemon reads a new capture when it next starts.
/// </summary>
internal sealed class EnvCommand(TextWriter output, TextWriter error)
{
    public int Run(string? configOption, bool capture, bool json = false)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (capture)
        {
            var names = DaemonEnvironment.Capture(model, "mcp-broker daemon env --capture, from the shell");
            var missing = model.Upstreams.SelectMany(u => u.EnvFrom.Select(e => (Upstream: u.Name, e.Key, Variable: e.Value)))
                .Where(e => Environment.GetEnvironmentVariable(e.Variable) is null).ToList();
            if (json)
            {
                output.WriteLine(new JsonObject
                {
                    ["file"] = DaemonEnvironment.PathOf(model.Runtime),
                    ["captured"] = new JsonArray([.. names.Select(n => (JsonNode?)n)]),
                    ["not_set"] = new JsonArray([.. missing.Select(m => (JsonNode?)new JsonObject { ["variable"] = m.Variable, ["path"] = $"upstreams.{m.Upstream}.env_from.{m.Key}" })]),
                }.ToJsonString());
                return ExitCodes.Ok;
            }

            output.WriteLine($"captured {names.Count} variable(s) into {DaemonEnvironment.PathOf(model.Runtime)}: {string.Join(", ", names)}");
            foreach (var (upstream, key, variable) in missing)
            {
                output.WriteLine($"not set here: {variable} (upstreams.{upstream}.env_from.{key}); set it and capture again, or add it to {Path.Combine(model.Runtime.SecretsDir, DaemonEnvironment.ServiceFileName)}");
            }

            output.WriteLine("a running daemon keeps its environment until it restarts: mcp-broker daemon stop (the next client starts it again)");
            return ExitCodes.Ok;
        }

        var environment = DaemonEnvironment.Read(model.Runtime);
        if (json)
        {
            // Names and where they came from; values never.
            output.WriteLine(new JsonObject
            {
                ["file"] = environment?.File ?? DaemonEnvironment.PathOf(model.Runtime),
                ["captured"] = environment is not null,
                ["source"] = environment?.Source,
                ["captured_at"] = environment?.CapturedAt,
                ["service_file"] = environment?.ServiceFile,
                ["variables"] = environment is null ? null : new JsonArray([.. environment.Names.Select(n => (JsonNode?)n)]),
            }.ToJsonString());
            return ExitCodes.Ok;
        }

        if (environment is null)
        {
            output.WriteLine($"nothing captured yet ({DaemonEnvironment.PathOf(model.Runtime)}): the first daemon start captures the environment it is started with; capture it from your shell now with: mcp-broker daemon env --capture");
            return ExitCodes.Ok;
        }

        output.WriteLine(Describe(environment));
        output.WriteLine($"variables: {string.Join(", ", environment.Names)}");
        return ExitCodes.Ok;
    }

    /// <summary>One line for status and doctor: the file, where it came from and when.</summary>
    internal static string Describe(DaemonEnvironment environment) =>
        $"environment {environment.File}: {environment.Source}" + (environment.CapturedAt is { } at ? $", {at:yyyy-MM-dd HH:mm} UTC" : "")
        + (environment.ServiceFile ? $", with {DaemonEnvironment.ServiceFileName}" : "");
}
