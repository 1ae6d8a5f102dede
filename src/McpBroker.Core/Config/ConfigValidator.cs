using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>
/// The semantic rules that a JSON Schema cannot state: names, references between sections, placeholders,
/// secrets hygiene. One class per concern (<c>Rules/</c>) over one <see cref="ConfigValidationContext"/>; every rule
/// runs and reports all it finds, and a model is built only when no error was found.
/// </summary>
internal static class ConfigValidator
{
    // In order: each reads what the ones before it built (the runtime for paths, the settings for upstream defaults,
    // the upstreams for profiles, the profiles for clients); the order is also the order the errors are reported in.
    private static readonly IConfigRules[] s_rules =
    [
        new RuntimeRules(),
        new BrokerSettingsRules(),
        new FrontDoorRules(),
        new TelemetryRules(),
        new ProfileNameRules(),
        new UpstreamRules(),
        new ProfileRules(),
        new ClientRules(),
    ];

    public static BrokerModel? Validate(BrokerConfig config, string sourcePath, Func<string, string?> getEnv, List<ConfigIssue> issues, out RuntimeModel? runtime)
    {
        var errorsBefore = issues.Count(i => i.Severity == IssueSeverity.Error);
        var context = new ConfigValidationContext(config, getEnv, issues);
        foreach (var rules in s_rules)
        {
            rules.Validate(context);
        }

        runtime = context.Runtime;
        if (issues.Count(i => i.Severity == IssueSeverity.Error) > errorsBefore || runtime is null)
        {
            return null;
        }

        return new BrokerModel(sourcePath, runtime, context.Settings, context.Profiles.ToFrozenDictionary(StringComparer.Ordinal), context.Upstreams,
            issues.Where(i => i.Severity == IssueSeverity.Warning).ToList())
        {
            Clients = context.Clients.ToFrozenDictionary(StringComparer.Ordinal),
            Telemetry = context.Telemetry,
        };
    }

    /// <summary><c>${KEY}</c> in a header value, url or argument: KEY is a key of the upstream's env_from or env_files.</summary>
    public static Regex HeaderReferenceRegex() => RemoteUpstreamRules.HeaderReferenceRegex();
}
