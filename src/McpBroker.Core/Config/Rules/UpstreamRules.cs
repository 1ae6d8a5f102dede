using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;
using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>
/// <c>upstreams</c>: names and prefixes, the profiles each names, stdio command, args and working dir, and the model
/// assembled from these and the environment, limit and remote rules.
/// </summary>
internal sealed class UpstreamRules : IConfigRules
{
    public void Validate(ConfigValidationContext context)
    {
        var upstreams = new List<UpstreamModel>();
        foreach (var (name, upstream) in context.UpstreamConfigs)
        {
            var model = ValidateUpstream(name, upstream ?? new UpstreamConfig(), context.Runtime, context.Settings, context.ProfileConfigs, context.GetEnv, context.Issues);
            if (model is not null)
            {
                upstreams.Add(model);
            }
        }

        CheckPrefixesUnique(upstreams, context.Issues);
        context.Upstreams = upstreams;
    }

    private static UpstreamModel? ValidateUpstream(string name, UpstreamConfig u, RuntimeModel? runtime, BrokerSettingsModel settings,
        IReadOnlyDictionary<string, ProfileConfig?> profiles, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var path = $"upstreams.{name}";
        var before = issues.Count;
        if (!NameRegex().IsMatch(name))
        {
            issues.Add(ConfigIssue.Error(path, "an upstream name uses only letters, digits, '_' and '-' (no dots: tool names are prefix.tool)"));
        }

        if (u.Smoke is { } smokeConfig)
        {
            if (string.IsNullOrWhiteSpace(smokeConfig.Query))
            {
                issues.Add(ConfigIssue.Error($"{path}.smoke.query", "say what a model would search for to find the tool, e.g. query: \"remember a fact\""));
            }

            if (string.IsNullOrWhiteSpace(smokeConfig.Tool))
            {
                issues.Add(ConfigIssue.Error($"{path}.smoke.tool", "name the tool the search must find (the upstream's own name, without the prefix)"));
            }
        }

        var prefix = u.Prefix ?? name;
        if (prefix == "broker")
        {
            issues.Add(ConfigIssue.Error(u.Prefix is null ? path : $"{path}.prefix", "the prefix 'broker' is reserved for the broker's own tools; set another prefix:"));
        }

        if (u.Prefix is not null && !NameRegex().IsMatch(u.Prefix))
        {
            issues.Add(ConfigIssue.Error($"{path}.prefix", $"'{u.Prefix}' may use only letters, digits, '_' and '-'"));
        }

        foreach (var (i, profile) in (u.Profiles ?? []).Index())
        {
            if (!profiles.ContainsKey(profile))
            {
                issues.Add(ConfigIssue.Error($"{path}.profiles[{i}]", $"no profile named '{profile}'{DidYouMean.Hint(profile, profiles.Keys)}; defined: {Names(profiles.Keys)}"));
            }
        }

        string? Expand(string value, string at)
        {
            var expanded = Placeholders.Expand(value, runtime, name, getEnv, out var error);
            if (expanded is null)
            {
                issues.Add(ConfigIssue.Error(at, error!));
            }

            return expanded;
        }

        var transport = u.Transport ?? UpstreamTransport.Stdio;
        string command = "";
        RemoteModel? remote = null;
        if (transport == UpstreamTransport.Stdio)
        {
            if (string.IsNullOrWhiteSpace(u.Command))
            {
                issues.Add(ConfigIssue.Error($"{path}.command", u.Url is null
                    ? "a stdio upstream needs a command, e.g. command: npx with args: [-y, \"@modelcontextprotocol/server-memory\"]"
                    : "a stdio upstream needs a command; for a server at a URL set transport: http (streamable HTTP) or transport: sse"));
            }
            else
            {
                command = Expand(u.Command, $"{path}.command") ?? "";
            }

            foreach (var (key, set) in new[] { ("url", u.Url is not null), ("headers", u.Headers is not null), ("oauth", u.Oauth is not null) })
            {
                if (set)
                {
                    issues.Add(ConfigIssue.Error($"{path}.{key}", $"{key} is for transport: http or sse; this upstream is stdio"));
                }
            }
        }
        else
        {
            remote = RemoteUpstreamRules.ValidateRemote(path, name, u, runtime, getEnv, issues);
        }

        if (transport != UpstreamTransport.Stdio)
        {
            foreach (var (key, set) in new[] { ("command", u.Command is not null), ("args", u.Args is not null), ("working_dir", u.WorkingDir is not null), ("env", u.Env is not null), ("limits", u.Limits is not null) })
            {
                if (set)
                {
                    issues.Add(ConfigIssue.Error($"{path}.{key}", $"{key} is for stdio upstreams; a {Word(transport)} upstream is reached at its url (secrets for its headers go in env_from or env_files)"));
                }
            }
        }

        // ${KEY} naming a key of env_from or env_files stays in the model as written and is filled in at start
        // (SecretFile.ResolveArgs), so a credential a server takes as an argument is never in the config or its output.
        var secretKeys = (u.EnvFrom ?? []).Keys.Concat((u.EnvFiles ?? []).Keys).ToHashSet(StringComparer.Ordinal);
        var args = (u.Args ?? []).Select((a, i) => ExpandKeepingSecrets(a, $"{path}.args[{i}]")).ToList();
        string ExpandKeepingSecrets(string value, string at)
        {
            var result = new StringBuilder();
            var pos = 0;
            foreach (Match m in SecretReferenceOrEscape().Matches(value))
            {
                if (m.Value == "$$" || !secretKeys.Contains(m.Groups["key"].Value))
                {
                    continue;
                }

                result.Append(Expand(value[pos..m.Index], at)).Append(m.Value);
                pos = m.Index + m.Length;
            }

            return result.Append(Expand(value[pos..], at)).ToString();
        }

        var workingDir = u.WorkingDir is null ? runtime?.UpstreamStateDir(name) ?? "" : Expand(u.WorkingDir, $"{path}.working_dir") ?? "";
        if (workingDir.Length > 0 && !Path.IsPathFullyQualified(workingDir))
        {
            issues.Add(ConfigIssue.Error($"{path}.working_dir", $"'{u.WorkingDir}' is not an absolute path"));
        }

        var (env, envFiles) = UpstreamEnvironmentRules.Validate(path, u, runtime, getEnv, Expand, issues);

        var (toolTimeouts, restart, limits, idle, start, call) = UpstreamLimitsRules.Validate(path, u, settings, issues);
        if (issues.Skip(before).Any(i => i.Severity == IssueSeverity.Error))
        {
            return null;
        }

        return new UpstreamModel(name, prefix, transport, u.Mode ?? UpstreamMode.Shared,
            command, args, workingDir, env.ToFrozenDictionary(StringComparer.Ordinal),
            (u.EnvFrom ?? []).ToFrozenDictionary(StringComparer.Ordinal), envFiles.ToFrozenDictionary(StringComparer.Ordinal),
            u.Purpose, u.Tags ?? [], idle, start, call)
        {
            DeclaredProfiles = u.Profiles,
            Smoke = u.Smoke is { Query: { Length: > 0 } probeQuery, Tool: { Length: > 0 } probeTool } probe
                ? new SmokeModel(probeQuery, probeTool, probe.Arguments ?? [], probe.Call ?? false)
                : null,
            Remote = remote,
            ToolTimeouts = toolTimeouts.ToFrozenDictionary(StringComparer.Ordinal),
            Restart = restart,
            MaxConcurrency = u.SerializeCalls == true ? 1 : u.MaxConcurrency,
            MaxQueue = u.MaxQueue ?? 64,
            MaxTools = u.MaxTools ?? Catalog.CatalogLimits.DefaultMaxTools,
            MaxToolBytes = u.MaxToolBytes ?? Catalog.CatalogLimits.DefaultMaxToolBytes,
            Limits = limits,
            MaxMessageBytes = settings.MaxMessageBytes,
            Mutating = u.Mutating ?? MutatingSetting.Auto,
            ToolOverrides = (u.Tools ?? []).ToFrozenDictionary(
                t => t.Key,
                t => new ToolOverride(t.Value?.Hidden ?? false, t.Value?.Description, t.Value?.Defaults ?? []) { Mutating = t.Value?.Mutating, Idempotent = t.Value?.Idempotent },
                StringComparer.Ordinal),
        };
    }

    private static void CheckPrefixesUnique(List<UpstreamModel> upstreams, List<ConfigIssue> issues)
    {
        foreach (var group in upstreams.Where(u => u.Mode != UpstreamMode.Disabled).GroupBy(u => u.Prefix, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            issues.Add(ConfigIssue.Error($"upstreams.{group.Last().Name}.prefix",
                $"prefix '{group.Key}' is used by {string.Join(" and ", group.Select(u => u.Name))}; tool names would collide — set a distinct prefix:"));
        }
    }
}
