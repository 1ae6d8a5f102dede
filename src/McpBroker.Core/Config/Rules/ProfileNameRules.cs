using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>Profile names (checked before the upstreams, which name profiles in turn).</summary>
internal sealed class ProfileNameRules : IConfigRules
{
    public void Validate(ConfigValidationContext context)
    {
        foreach (var name in context.ProfileConfigs.Keys.Where(n => !NameRegex().IsMatch(n)))
        {
            context.Issues.Add(ConfigIssue.Error($"profiles.{name}", "a profile name uses only letters, digits, '_' and '-'"));
        }
    }
}
