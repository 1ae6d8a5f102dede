using System.Reflection;
using System.Text.Json;

namespace McpBroker.Config;

public sealed record ConfigLoadResult(string Path, BrokerModel? Model, IReadOnlyList<ConfigIssue> Issues)
{
    public bool IsValid => Model is not null;

    public IEnumerable<ConfigIssue> Errors => Issues.Where(i => i.Severity == IssueSeverity.Error);

    public IEnumerable<ConfigIssue> Warnings => Issues.Where(i => i.Severity == IssueSeverity.Warning);

    /// <summary>
    /// The runtime section when it is valid, even if the rest is not: commands that only reach the running daemon or
    /// its files (status, stop, reload, logs) still work while an edit is being fixed.
    /// </summary>
    public RuntimeModel? Runtime { get; init; }

    /// <summary>The file does not exist (a first run): the one error says to run <c>mcp-broker config init</c>.</summary>
    public bool Missing { get; init; }
}

/// <summary>
/// The one way a config is read, by the CLI and the daemon alike: YAML → JSON Schema → records → semantic rules → model.
/// </summary>
public static class ConfigLoader
{
    /// <summary><c>--config</c> wins, then <c>MCP_BROKER_CONFIG</c>, then <c>~/.config/mcp-broker/broker.yaml</c>.</summary>
    public static string ResolvePath(string? explicitPath) => Shared.BrokerEndpoints.ResolveConfigPath(explicitPath);

    /// <summary>The largest config file read (1 MiB).</summary>
    public const long MaxFileBytes = 1024 * 1024;

    public static ConfigLoadResult LoadFile(string path, Func<string, string?>? getEnv = null)
    {
        string text;
        try
        {
            // A config is a few KB; a file far past that is a mistake (or an attack on the daemon's reload), not read.
            if (new FileInfo(path) is { Exists: true, Length: > MaxFileBytes } big)
            {
                return new ConfigLoadResult(path, null, [ConfigIssue.Error("",
                    $"{path} is {big.Length / (1024 * 1024.0):0.#} MiB; a broker config is a few KB and at most {MaxFileBytes / (1024 * 1024)} MiB is read — is this the right file?")]);
            }

            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return new ConfigLoadResult(path, null, [ConfigIssue.Error("", MissingMessage(path))]) { Missing = true };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new ConfigLoadResult(path, null, [ConfigIssue.Error("", $"cannot read {path}: {ex.Message}")]);
        }

        return Load(text, path, getEnv);
    }

    /// <summary>What a command says when there is no config file yet.</summary>
    public static string MissingMessage(string path) =>
        $"no config at {path}; run 'mcp-broker config init' to write a commented starter there (or pass --config PATH, or set MCP_BROKER_CONFIG)";

    public static ConfigLoadResult Load(string yaml, string sourcePath, Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        var issues = new List<ConfigIssue>();
        var document = YamlDocument.Parse(yaml, issues);
        BrokerModel? model = null;
        RuntimeModel? runtime = null;
        if (document.Readable)
        {
            // Semantic rules run even when the schema found errors, on a copy without the offending values,
            // so one run reports every error; a rule does not repeat what the schema said about the same path.
            var (json, schemaErrors) = ConfigSchema.Check(document.Root, issues);
            try
            {
                // Null only for a document that is null itself ('~'), which the schema has refused.
                if (JsonSerializer.Deserialize(json, ConfigJsonContext.Default.BrokerConfig) is { } config)
                {
                    var semantic = new List<ConfigIssue>();
                    var candidate = ConfigValidator.Validate(config, sourcePath, getEnv, semantic, out runtime);
                    issues.AddRange(semantic.Where(i => !schemaErrors.Any(p => Covers(p, i.Path))));
                    model = issues.Any(i => i.Severity == IssueSeverity.Error) ? null : candidate;
                }
            }
            catch (JsonException ex) when (schemaErrors.Count > 0)
            {
                // The schema's errors already explain why the document cannot be read as a config.
                _ = ex;
            }
            catch (JsonException ex)
            {
                issues.Add(ConfigIssue.Error(ex.Path?.TrimStart('$', '.') ?? "", ex.Message));
            }
        }

        // The document as a whole ("") is at line 1: no position worth adding (a syntax error names its own).
        var located = issues.Select(i => i.Path.Length > 0 && document.Describe(i.Path) is { Length: > 0 } where ? i with { Message = $"{i.Message} ({where})" } : i).ToList();
        // A runtime read from a document whose runtime section had errors (and so fell back to the default) is no runtime.
        var runtimeTrusted = !issues.Any(i => i.Severity == IssueSeverity.Error && (i.Path.Length == 0 || i.Path == "runtime" || i.Path.StartsWith("runtime.", StringComparison.Ordinal)));
        return new ConfigLoadResult(sourcePath, model, located) { Runtime = model?.Runtime ?? (runtimeTrusted ? runtime : null) };
    }

    private static bool Covers(string schemaPath, string path) =>
        schemaPath.Length > 0 && (path == schemaPath || path.StartsWith(schemaPath + ".", StringComparison.Ordinal) || path.StartsWith(schemaPath + "[", StringComparison.Ordinal));

    /// <summary>The commented starter written by <c>config init</c>.</summary>
    public static string StarterYaml => ReadResource("McpBroker.starter.yaml");

    /// <summary>The demo's config: real reference servers from npm, <c>{root}</c> replaced by a throwaway root.</summary>
    public static string DemoYaml => ReadResource("McpBroker.demo.yaml");

    private static string ReadResource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
