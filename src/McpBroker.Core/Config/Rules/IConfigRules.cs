namespace McpBroker.Config;

/// <summary>The rules of one concern of the config; each reports every problem it finds and builds its part of the model.</summary>
internal interface IConfigRules
{
    void Validate(ConfigValidationContext context);
}
