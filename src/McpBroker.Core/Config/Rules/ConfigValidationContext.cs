namespace McpBroker.Config;

/// <summary>
/// One validation of one config: the records as written, and what the rules have built from them so far. Rules run in
/// order (<see cref="ConfigValidator"/>) and each reads what the ones before it built: the runtime for paths, the
/// settings for upstream defaults, the upstreams for profiles, the profiles for clients.
/// </summary>
internal sealed class ConfigValidationContext(BrokerConfig config, Func<string, string?> getEnv, List<ConfigIssue> issues)
{
    public BrokerConfig Config { get; } = config;

    /// <summary>Reads the host's environment ($VAR placeholders, env_from checks).</summary>
    public Func<string, string?> GetEnv { get; } = getEnv;

    /// <summary>Every error and warning found, in the order the rules found them.</summary>
    public List<ConfigIssue> Issues { get; } = issues;

    /// <summary>The profiles as written; a config without any has the one 'default' profile.</summary>
    public IReadOnlyDictionary<string, ProfileConfig?> ProfileConfigs { get; } = config.Profiles is { Count: > 0 } p
        ? p
        : new Dictionary<string, ProfileConfig?> { [ProfileModel.DefaultName] = null };

    /// <summary>Every upstream written in the config, valid or not.</summary>
    public IReadOnlyDictionary<string, UpstreamConfig?> UpstreamConfigs { get; } = config.Upstreams ?? [];

    /// <summary>Null when the runtime section is invalid: nothing that needs a path under it can be built.</summary>
    public RuntimeModel? Runtime { get; set; }

    public BrokerSettingsModel Settings { get; set; } = BrokerSettingsModel.Defaults;

    public TelemetryModel? Telemetry { get; set; }

    /// <summary>The upstreams without errors of their own.</summary>
    public List<UpstreamModel> Upstreams { get; set; } = [];

    public Dictionary<string, ProfileModel> Profiles { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, ClientModel> Clients { get; } = new(StringComparer.Ordinal);
}
