using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>
/// An upstream's <c>env</c>, <c>env_from</c> and <c>env_files</c>: variable names, literal values that look like secrets,
/// host variables that are not set, and a key set in more than one of them.
/// </summary>
internal static class UpstreamEnvironmentRules
{
    /// <summary>The literal env and the secret files; env_from is taken as written.</summary>
    internal static (Dictionary<string, string> Env, Dictionary<string, string> EnvFiles) Validate(string path, UpstreamConfig u, RuntimeModel? runtime,
        Func<string, string?> getEnv, Func<string, string, string?> expand, List<ConfigIssue> issues)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in u.Env ?? [])
        {
            CheckEnvName(key, $"{path}.env.{key}", issues);
            if (expand(value, $"{path}.env.{key}") is { } expanded)
            {
                env[key] = expanded;
                if (!value.Contains('{') && !value.Contains('$') && SecretHeuristics.LooksLikeSecret(value))
                {
                    issues.Add(ConfigIssue.Warning($"{path}.env.{key}",
                        $"this value looks like a secret; env holds literal, non-secret values — move it to env_from ({key}: HOST_VARIABLE) or env_files ({key}: file under {{runtime.secrets_dir}})"));
                }
            }
        }

        foreach (var (key, variable) in u.EnvFrom ?? [])
        {
            CheckEnvName(key, $"{path}.env_from.{key}", issues);
            if (!EnvNameRegex().IsMatch(variable))
            {
                issues.Add(ConfigIssue.Error($"{path}.env_from.{key}", $"'{variable}' is not an environment variable name; write the NAME of the host variable, not its value"));
            }
            else if (getEnv(variable) is null)
            {
                issues.Add(ConfigIssue.Warning($"{path}.env_from.{key}", $"host variable '{variable}' is not set here; the upstream will not start unless the daemon's environment has it"));
            }
        }

        var envFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, file) in u.EnvFiles ?? [])
        {
            CheckEnvName(key, $"{path}.env_files.{key}", issues);
            if (expand(file, $"{path}.env_files.{key}") is { } expanded && runtime is not null)
            {
                envFiles[key] = Path.IsPathFullyQualified(expanded) ? expanded : Path.Combine(runtime.SecretsDir, expanded);
            }
        }

        foreach (var key in env.Keys.Intersect((u.EnvFrom ?? []).Keys).Concat(env.Keys.Intersect(envFiles.Keys)).Concat((u.EnvFrom ?? []).Keys.Intersect(envFiles.Keys)))
        {
            issues.Add(ConfigIssue.Error($"{path}", $"'{key}' is set in more than one of env, env_from and env_files; keep one"));
        }

        return (env, envFiles);
    }
}
