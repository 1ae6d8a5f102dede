using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>A codex-toml client's <c>codex_apps_policy</c>.</summary>
internal static class CodexAppsPolicyRules
{
    /// <summary>
    /// A Codex hosted-app policy: each glob absolute after expansion with wildcards in its file name only (the folder is
    /// read, not searched), and each connector named by id or name, with a reason.
    /// </summary>
    internal static CodexAppsPolicyModel Validate(string path, CodexAppsPolicyConfig p, string codexHome, RuntimeModel? runtime,
        Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        List<string> Globs(List<string>? globs, string key, string fallback)
        {
            if (globs is null)
            {
                return [Path.Combine(codexHome, fallback)];
            }

            var expanded = new List<string>();
            foreach (var (i, glob) in globs.Index())
            {
                var at = $"{path}.{key}[{i}]";
                var value = Placeholders.Expand(glob, runtime, null, getEnv, out var error);
                if (value is null)
                {
                    issues.Add(ConfigIssue.Error(at, error!));
                }
                else if (!Path.IsPathFullyQualified(value))
                {
                    issues.Add(ConfigIssue.Error(at, $"'{glob}' is not an absolute path; write it from '/' or '~/', e.g. ~/.codex/{fallback}"));
                }
                else if (Path.GetDirectoryName(value) is { } folder && folder.IndexOfAny(['*', '?']) >= 0)
                {
                    issues.Add(ConfigIssue.Error(at, $"'{glob}' has a wildcard in a folder name; only the file name may have * or ?, e.g. ~/.codex/{fallback}"));
                }
                else
                {
                    expanded.Add(Path.GetFullPath(value));
                }
            }

            return expanded;
        }

        var rules = new List<ConnectorRule>();
        foreach (var (i, rule) in (p.DisableConnectors ?? []).Index())
        {
            var at = $"{path}.disable_connectors[{i}]";
            if (string.IsNullOrWhiteSpace(rule.Id) && string.IsNullOrWhiteSpace(rule.Name))
            {
                issues.Add(ConfigIssue.Error(at, "name the connector: id: connector_… (as Codex's files spell it) or name: GitHub"));
            }
            else if (string.IsNullOrWhiteSpace(rule.Reason))
            {
                issues.Add(ConfigIssue.Error($"{at}.reason", "say why it is disabled, e.g. reason: \"the broker serves github\""));
            }
            else
            {
                rules.Add(new ConnectorRule(NullIfBlank(rule.Id), NullIfBlank(rule.Name), rule.Reason.Trim()));
            }
        }

        if (p.Enabled != false && (p.DisableConnectors?.Count ?? 0) == 0)
        {
            issues.Add(ConfigIssue.Warning(p.DisableConnectors is null ? path : $"{path}.disable_connectors",
                "names no connector, so apps-policy changes nothing; add disable_connectors: [{ name: GitHub, reason: \"the broker serves github\" }]"));
        }

        return new CodexAppsPolicyModel(p.Enabled ?? true,
            Globs(p.AppDirectory, "app_directory", Path.Combine("cache", "codex_app_directory", "*.json")),
            Globs(p.ToolsCache, "tools_cache", Path.Combine("cache", "codex_apps_tools", "*.json")),
            rules);
    }
}
