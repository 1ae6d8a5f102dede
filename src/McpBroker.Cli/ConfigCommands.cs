using System.CommandLine;
using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Cli;

internal sealed class ConfigCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>config init|validate|show|schema</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var force = new Option<bool>("--force") { Description = "Overwrite an existing file" };
        var initDryRun = CommonOptions.DryRun("Print the starter config and where it would go; write nothing");
        var init = new Command("init", "Write a commented starter config") { force, initDryRun };
        init.SetAction(r => new ConfigCommands(r.Output(), r.Error()).Init(r.GetValue(config), r.GetValue(force), r.GetValue(initDryRun)));

        var validateJson = CommonOptions.Json("Print one JSON object: valid, every error and warning with its YAML path");
        var validate = new Command("validate", "Check the config, listing every error with its YAML path") { validateJson };
        validate.SetAction(r => new ConfigCommands(r.Output(), r.Error()).Validate(r.GetValue(config), r.GetValue(validateJson)));

        var show = new Command("show", "Print the resolved config, secrets redacted");
        show.SetAction(r => new ConfigCommands(r.Output(), r.Error()).Show(r.GetValue(config)));

        var schema = new Command("schema", "Print the config's JSON Schema");
        schema.SetAction(r => new ConfigCommands(r.Output(), r.Error()).Schema());

        return new Command("config", "Create, check and show the config") { init, validate, show, schema };
    }

    public int Init(string? configOption, bool force, bool dryRun = false)
    {
        var path = ConfigLoader.ResolvePath(configOption);
        if (File.Exists(path) && !force)
        {
            error.WriteLine($"mcp-broker: {path} already exists; pass --force to overwrite it");
            return ExitCodes.Failure;
        }

        if (dryRun)
        {
            output.Write(ConfigLoader.StarterYaml);
            error.WriteLine($"(dry run: this is what 'mcp-broker config init' would write to {path}; nothing was written)");
            return ExitCodes.Ok;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, ConfigLoader.StarterYaml);
        output.WriteLine($"wrote {path}");
        output.WriteLine("next: mcp-broker config validate, then point a client at 'mcp-broker-client --profile default'");
        return ExitCodes.Ok;
    }

    public int Validate(string? configOption, bool json = false)
    {
        var result = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        if (json)
        {
            // One object on stdout: every issue with its YAML path; the exit code as without --json.
            JsonArray Issues(IEnumerable<ConfigIssue> issues) => [.. issues.Select(i => (JsonNode)new JsonObject { ["path"] = i.Path, ["message"] = i.Message })];
            output.WriteLine(new JsonObject
            {
                ["path"] = result.Path,
                ["valid"] = result.IsValid,
                ["missing"] = result.Missing ? true : null,
                ["upstreams"] = result.Model?.Upstreams.Count,
                ["profiles"] = result.Model?.Profiles.Count,
                ["errors"] = Issues(result.Errors),
                ["warnings"] = Issues(result.Warnings),
            }.ToJsonString());
            return result.IsValid ? ExitCodes.Ok : ExitCodes.Failure;
        }

        foreach (var issue in result.Issues)
        {
            error.WriteLine(issue);
        }

        if (!result.IsValid)
        {
            error.WriteLine($"{result.Path}: invalid ({result.Errors.Count()} error(s))");
            return ExitCodes.Failure;
        }

        var model = result.Model!;
        output.WriteLine($"{result.Path}: valid — {model.Upstreams.Count} upstream(s), {model.Profiles.Count} profile(s)"
            + (result.Warnings.Any() ? $", {result.Warnings.Count()} warning(s)" : ""));
        return ExitCodes.Ok;
    }

    public int Show(string? configOption)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        output.Write(ConfigShow.Render(model));
        return ExitCodes.Ok;
    }

    public int Schema()
    {
        output.Write(ConfigSchema.ToJson());
        return ExitCodes.Ok;
    }
}

/// <summary>Where a command finds the daemon: the config file, its runtime root, and the model when the file is valid.</summary>
internal sealed record DaemonTarget(string ConfigPath, RuntimeModel Runtime, BrokerModel? Model);
