using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>What the rule classes share: names, ranges, durations, token files and the shapes of names.</summary>
internal static partial class ConfigRules
{
    internal static TimeSpan Positive(Duration? value, TimeSpan fallback, string path, List<ConfigIssue> issues)
    {
        if (value is { Value: var v } && v <= TimeSpan.Zero)
        {
            issues.Add(ConfigIssue.Error(path, "must be more than 0"));
        }

        return value?.Value ?? fallback;
    }

    internal static int InRange(int? value, int fallback, int min, int max, string path, string unit, List<ConfigIssue> issues)
    {
        if (value is not { } v)
        {
            return fallback;
        }

        if (v < min || v > max)
        {
            issues.Add(ConfigIssue.Error(path, $"{v} is out of range: use {min} to {max} {unit}"));
            return fallback;
        }

        return v;
    }

    internal static string? TokenFile(string? raw, string path, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        if (raw is null || runtime is null)
        {
            return null;
        }

        var expanded = Placeholders.Expand(raw, runtime, null, getEnv, out var error);
        if (expanded is null)
        {
            issues.Add(ConfigIssue.Error(path, error!));
            return null;
        }

        return Path.IsPathFullyQualified(expanded) ? expanded : Path.Combine(runtime.SecretsDir, expanded);
    }

    internal static void CheckEnvName(string key, string path, List<ConfigIssue> issues)
    {
        if (!EnvNameRegex().IsMatch(key))
        {
            issues.Add(ConfigIssue.Error(path, $"'{key}' is not a valid environment variable name (letters, digits and '_', not starting with a digit)"));
        }
    }

    internal static string Names(IEnumerable<string> names) => names.Any() ? string.Join(", ", names) : "(none)";

    internal static string Word(UpstreamTransport transport) => transport.ToString().ToLowerInvariant();

    internal static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    internal static partial Regex NameRegex();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    internal static partial Regex EnvNameRegex();

    /// <summary><c>$$</c> (a literal '$'), or <c>${KEY}</c>: in an argument, a reference to a key of env_from or env_files when KEY is one.</summary>
    [GeneratedRegex(@"\$\$|\$\{(?<key>[A-Za-z_][A-Za-z0-9_]*)\}")]
    internal static partial Regex SecretReferenceOrEscape();
}
