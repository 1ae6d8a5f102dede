using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary><c>broker</c>: the daemon-wide timeouts and limits every upstream and profile defaults to.</summary>
internal sealed class BrokerSettingsRules : IConfigRules
{
    public void Validate(ConfigValidationContext context) =>
        context.Settings = ValidateSettings(context.Config.Broker, context.Issues);

    private static BrokerSettingsModel ValidateSettings(BrokerSettingsConfig? broker, List<ConfigIssue> issues)
    {
        var d = BrokerSettingsModel.Defaults;
        return new BrokerSettingsModel(
            broker?.IdleTimeout?.Value ?? d.IdleTimeout,
            Positive(broker?.StartTimeout, d.StartTimeout, "broker.start_timeout", issues),
            Positive(broker?.CallTimeout, d.CallTimeout, "broker.call_timeout", issues))
        {
            MaxMessageBytes = InRange(broker?.MaxMessageBytes, d.MaxMessageBytes, BrokerSettingsModel.MinMaxMessageBytes, BrokerSettingsModel.MaxMaxMessageBytes,
                "broker.max_message_bytes", "bytes; 16777216 (16 MiB) is the default", issues),
            MaxSearchQueryChars = InRange(broker?.MaxSearchQueryChars, d.MaxSearchQueryChars, BrokerSettingsModel.MinMaxSearchQueryChars, BrokerSettingsModel.MaxMaxSearchQueryChars,
                "broker.max_search_query_chars", "characters; 1000 is the default", issues),
        };
    }
}
