using System.Collections.Frozen;
using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>
/// An upstream's timeouts, restart policy, concurrency and queue, catalog ceilings and process limits (memory, CPU).
/// </summary>
internal static class UpstreamLimitsRules
{
    internal static (FrozenDictionary<string, TimeSpan> ToolTimeouts, RestartPolicy Restart, ResourceLimits? Limits, TimeSpan Idle, TimeSpan Start, TimeSpan Call)
        Validate(string path, UpstreamConfig u, BrokerSettingsModel settings, List<ConfigIssue> issues)
    {
        var toolTimeouts = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var (tool, limit) in u.Timeouts?.Tools ?? [])
        {
            toolTimeouts[tool] = Positive(limit, settings.CallTimeout, $"{path}.timeouts.tools.{tool}", issues);
        }

        var d = RestartPolicy.Default;
        var restart = new RestartPolicy(
            u.Restart?.MaxAttempts ?? d.MaxAttempts,
            Positive(u.Restart?.Backoff, d.Backoff, $"{path}.restart.backoff", issues),
            Positive(u.Restart?.MaxBackoff, d.MaxBackoff, $"{path}.restart.max_backoff", issues),
            Positive(u.Restart?.Cooldown, d.Cooldown, $"{path}.restart.cooldown", issues));
        if (restart.MaxAttempts < 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.restart.max_attempts", "must be at least 1"));
        }

        if (u.MaxConcurrency is < 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_concurrency", "must be at least 1 (omit it for no limit)"));
        }

        if (u.MaxQueue is < 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_queue", "must be 0 or more"));
        }

        if (u.MaxTools is < 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_tools", $"must be at least 1 (the default is {Catalog.CatalogLimits.DefaultMaxTools})"));
        }

        if (u.MaxToolBytes is < Catalog.CatalogLimits.MinMaxToolBytes)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_tool_bytes", $"must be at least {Catalog.CatalogLimits.MinMaxToolBytes} (the default is {Catalog.CatalogLimits.DefaultMaxToolBytes})"));
        }

        if (u.SerializeCalls == true && u.MaxConcurrency is > 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.serialize_calls", $"contradicts max_concurrency: {u.MaxConcurrency}; keep one"));
        }

        var limits = ValidateLimits($"{path}.limits", u.Limits, issues);
        var idle = u.IdleTimeout?.Value ?? settings.IdleTimeout;
        var start = Positive(u.Timeouts?.Start, settings.StartTimeout, $"{path}.timeouts.start", issues);
        var call = Positive(u.Timeouts?.Call, settings.CallTimeout, $"{path}.timeouts.call", issues);

        return (toolTimeouts.ToFrozenDictionary(StringComparer.Ordinal), restart, limits, idle, start, call);
    }

    /// <summary>Ceilings on memory and CPU; null when neither is set (over alone sets nothing).</summary>
    private static ResourceLimits? ValidateLimits(string path, LimitsConfig? limits, List<ConfigIssue> issues)
    {
        if (limits is null)
        {
            return null;
        }

        long? memory = null;
        if (limits.Memory is { } text && (memory = ResourceLimits.ParseSize(text)) is null or < 1 << 20)
        {
            issues.Add(ConfigIssue.Error($"{path}.memory", $"'{text}' is not a memory size of at least 1MiB; write a number with a unit, e.g. 512MiB or 2GiB"));
        }

        if (limits.CpuPercent is < 1 or > 100_000)
        {
            issues.Add(ConfigIssue.Error($"{path}.cpu_percent", $"{limits.CpuPercent} is out of range; write a percentage of one core from 1 (200 means two cores)"));
        }

        var over = Positive(limits.Over, ResourceLimits.DefaultOver, $"{path}.over", issues);
        return memory is null && limits.CpuPercent is null ? null : new ResourceLimits(memory, limits.CpuPercent, over);
    }
}
