using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>
/// <c>profiles</c>: the upstreams each sees, budgets, transparency, its token file, and the strictest tool pinning of the
/// profiles that see an upstream.
/// </summary>
internal sealed class ProfileRules : IConfigRules
{
    public void Validate(ConfigValidationContext context)
    {
        var (profileConfigs, upstreamConfigs, upstreams, profiles) = (context.ProfileConfigs, context.UpstreamConfigs, context.Upstreams, context.Profiles);
        foreach (var (name, profile) in profileConfigs)
        {
            profiles[name] = ValidateProfile(name, profile ?? new ProfileConfig(), upstreamConfigs, upstreams, context.Issues) with
            {
                RequireTokenFile = TokenFile(profile?.RequireTokenFile, $"profiles.{name}.require_token_file", context.Runtime, context.GetEnv, context.Issues),
                MaxSearchQueryChars = context.Settings.MaxSearchQueryChars,
            };
        }

        // Pinning is kept per upstream, so the strictest setting of any profile that sees an upstream applies to it.
        context.Upstreams = [.. upstreams.Select(u => u with
        {
            PinTools = profileConfigs
                .Where(p => profiles[p.Key].Upstreams.Contains(u.Name))
                .Select(p => p.Value?.PinTools ?? PinSetting.False)
                .Append(upstreamConfigs[u.Name]?.PinTools ?? PinSetting.False)
                .Max(),
        })];
    }

    private static ProfileModel ValidateProfile(string name, ProfileConfig p, IReadOnlyDictionary<string, UpstreamConfig?> upstreamConfigs,
        List<UpstreamModel> upstreams, List<ConfigIssue> issues)
    {
        var path = $"profiles.{name}";
        foreach (var (i, upstream) in (p.Upstreams ?? []).Index())
        {
            if (!upstreamConfigs.ContainsKey(upstream))
            {
                issues.Add(ConfigIssue.Error($"{path}.upstreams[{i}]", $"no upstream named '{upstream}'{DidYouMean.Hint(upstream, upstreamConfigs.Keys)}; defined: {Names(upstreamConfigs.Keys)}"));
            }
        }

        if (p.MaxTools is <= 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_tools", "must be at least 1"));
        }

        if (p.ToolsPageSize is < 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.tools_page_size", "must be 0 (one page) or more"));
        }

        // An upstream is seen by the profiles it names; one that names none is seen by every profile
        // that does not list its upstreams itself. A profile's own list adds to that.
        var visible = upstreams
            .Where(u => u.Mode != UpstreamMode.Disabled)
            .Where(u => u.DeclaredProfiles?.Contains(name) ?? p.Upstreams is null || p.Upstreams.Contains(u.Name))
            .Select(u => u.Name)
            .ToList();
        MutatingAllowanceRules.Check(path, p, upstreams.Where(u => visible.Contains(u.Name)).ToList(), upstreams, upstreamConfigs, issues);
        var transparent = p.Transparent == true;
        if (transparent && p.CompactToolsEnabled == true)
        {
            issues.Add(ConfigIssue.Error($"{path}.transparent", "a transparent profile lists the upstream's own tools; remove compact_tools_enabled: true or transparent: true"));
        }

        if (transparent && visible.Count != 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.transparent",
                $"a transparent profile shows one upstream without renaming anything, and this one sees {visible.Count} ({Names(visible)}); list exactly one under {path}.upstreams"));
        }

        return new ProfileModel(name, p.Description, p.CompactToolsEnabled ?? !transparent, p.MaxTools ?? ProfileModel.DefaultMaxTools,
            p.BrokerToolNameStyle ?? ToolNameStyle.Dotted, visible)
        {
            AllowMutatingUpstreams = p.AllowMutatingUpstreams ?? [],
            AllowMutatingTools = p.AllowMutatingTools ?? [],
            OnOverBudget = p.OnOverBudget ?? OverBudgetAction.Error,
            ToolsPageSize = p.ToolsPageSize ?? ProfileModel.DefaultToolsPageSize,
            Transparent = transparent,
        };
    }
}
