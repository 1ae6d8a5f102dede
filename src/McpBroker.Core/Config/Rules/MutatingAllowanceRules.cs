using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>A profile's <c>allow_mutating_upstreams</c> and <c>allow_mutating_tools</c> (the exposure gates).</summary>
internal static class MutatingAllowanceRules
{
    /// <summary>
    /// Warns about allowances that can never apply (a typo leaves tools hidden) and about a profile that sees an
    /// upstream declared <c>mutating: true</c> without allowing any of it: that upstream is hidden from it entirely.
    /// </summary>
    /// <param name="declared">Every upstream written in the config, valid or not: one with an error of its own (a missing
    /// command) is still the one an allowance names, and that error says what to fix.</param>
    internal static void Check(string path, ProfileConfig p, List<UpstreamModel> visible, List<UpstreamModel> all,
        IReadOnlyDictionary<string, UpstreamConfig?> declared, List<ConfigIssue> issues)
    {
        foreach (var (i, pattern) in (p.AllowMutatingUpstreams ?? []).Index())
        {
            if (!declared.Keys.Any(name => Globs.Match(pattern, name)))
            {
                issues.Add(ConfigIssue.Warning($"{path}.allow_mutating_upstreams[{i}]",
                    $"'{pattern}' matches no upstream{DidYouMean.Hint(pattern, declared.Keys)}; defined: {Names(declared.Keys)}"));
            }
        }

        foreach (var (i, pattern) in (p.AllowMutatingTools ?? []).Index())
        {
            if (!pattern.Contains('.', StringComparison.Ordinal))
            {
                issues.Add(ConfigIssue.Error($"{path}.allow_mutating_tools[{i}]", $"'{pattern}' is not a canonical tool pattern; write prefix.tool, e.g. memory.create_* or *.write_file"));
            }
            else if (!all.Any(u => Globs.Match(pattern[..pattern.IndexOf('.', StringComparison.Ordinal)], u.Prefix))
                && !declared.Any(d => Globs.Match(pattern[..pattern.IndexOf('.', StringComparison.Ordinal)], d.Value?.Prefix ?? d.Key)))
            {
                issues.Add(ConfigIssue.Warning($"{path}.allow_mutating_tools[{i}]", $"'{pattern}' matches no upstream prefix; prefixes: {Names(all.Select(u => u.Prefix))}"));
            }
        }

        foreach (var u in visible.Where(u => u.Mutating == MutatingSetting.True && u.ToolOverrides.Values.All(o => o.Mutating != false)))
        {
            var allowed = (p.AllowMutatingUpstreams ?? []).Any(g => Globs.Match(g, u.Name))
                || (p.AllowMutatingTools ?? []).Any(g => g.Contains('.', StringComparison.Ordinal) && Globs.Match(g[..g.IndexOf('.', StringComparison.Ordinal)], u.Prefix));
            if (!allowed)
            {
                issues.Add(ConfigIssue.Warning(path,
                    $"sees upstream '{u.Name}' (mutating: true) but allows none of its tools, so it shows nothing of it; add '{u.Name}' to allow_mutating_upstreams, or stop showing it to this profile"));
            }
        }
    }
}
