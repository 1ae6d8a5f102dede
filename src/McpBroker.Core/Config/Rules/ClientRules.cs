using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary><c>clients</c>: format, the profile each connects with, entry name and config path.</summary>
internal sealed class ClientRules : IConfigRules
{
    public void Validate(ConfigValidationContext context)
    {
        foreach (var (name, client) in context.Config.Clients ?? [])
        {
            if (ValidateClient(name, client ?? new ClientConfig(), context.Profiles, context.Runtime, context.GetEnv, context.Issues) is { } model)
            {
                context.Clients[name] = model;
            }
        }
    }

    private static ClientModel? ValidateClient(string name, ClientConfig c, Dictionary<string, ProfileModel> profiles, RuntimeModel? runtime,
        Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var path = $"clients.{name}";
        var before = issues.Count;
        if (!NameRegex().IsMatch(name))
        {
            issues.Add(ConfigIssue.Error(path, "a client name uses only letters, digits, '_' and '-'"));
        }

        if (c.Format is not { } format)
        {
            return null; // the schema reports the missing format
        }

        var profile = c.Profile ?? ProfileModel.DefaultName;
        if (!profiles.ContainsKey(profile))
        {
            issues.Add(ConfigIssue.Error(c.Profile is null ? path : $"{path}.profile", $"no profile named '{profile}'{DidYouMean.Hint(profile, profiles.Keys)}; defined: {Names(profiles.Keys)}"));
        }

        var entry = c.EntryName ?? ClientModel.DefaultEntryName;
        if (!NameRegex().IsMatch(entry))
        {
            issues.Add(ConfigIssue.Error($"{path}.entry_name", $"'{entry}' may use only letters, digits, '_' and '-' (every client accepts those as a server name)"));
        }

        var raw = c.ConfigPath ?? ClientModel.DefaultPath(format);
        var configPath = Placeholders.Expand(raw, runtime, null, getEnv, out var error);
        if (configPath is null)
        {
            issues.Add(ConfigIssue.Error($"{path}.config_path", error!));
        }
        else if (!Path.IsPathFullyQualified(configPath))
        {
            issues.Add(ConfigIssue.Error($"{path}.config_path", $"'{raw}' is not an absolute path; write it from '/' or '~/'"));
        }

        if (c.McpAllowedServers is not null && format is not (ClientFormat.GeminiSettings or ClientFormat.Qwen))
        {
            issues.Add(ConfigIssue.Warning($"{path}.mcp_allowed_servers", "only gemini-settings and qwen clients have mcp.allowed; this list is ignored"));
        }

        CodexAppsPolicyModel? appsPolicy = null;
        if (c.CodexAppsPolicy is { } policy)
        {
            if (format != ClientFormat.CodexToml)
            {
                issues.Add(ConfigIssue.Error($"{path}.codex_apps_policy", $"only codex-toml clients have hosted apps; remove codex_apps_policy from this {System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(format.ToString())} client"));
            }
            else if (configPath is not null && Path.IsPathFullyQualified(configPath))
            {
                appsPolicy = CodexAppsPolicyRules.Validate($"{path}.codex_apps_policy", policy, Path.GetDirectoryName(Path.GetFullPath(configPath))!, runtime, getEnv, issues);
            }
        }

        return issues.Skip(before).Any(i => i.Severity == IssueSeverity.Error)
            ? null
            : new ClientModel(name, format, Path.GetFullPath(configPath!), entry, profile, c.McpAllowedServers) { CodexAppsPolicy = appsPolicy };
    }
}
