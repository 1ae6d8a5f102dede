using System.Text.Json;
using System.Text.Json.Serialization;
using McpBroker.Config;
using NJsonSchema;
using NJsonSchema.Generation;
using NJsonSchema.Generation.TypeMappers;

namespace McpBroker.Tests.Support;

/// <summary>
/// The JSON Schema of broker.yaml generated from the <see cref="BrokerConfig"/> records (NJsonSchema), so the
/// committed <c>config/broker.schema.json</c> — which the broker embeds and validates with — cannot drift from the code.
/// Only the tests generate it: the product never loads NJsonSchema.
/// </summary>
internal static class SchemaGenerator
{
    public static string ToJson() => Generate().ToJson().ReplaceLineEndings("\n") + "\n";

    private static JsonSchema Generate()
    {
        var settings = new SystemTextJsonSchemaGeneratorSettings
        {
            SerializerOptions = new JsonSerializerOptions
            {
                PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
                Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
            },
            SchemaType = SchemaType.JsonSchema,
            DefaultReferenceTypeNullHandling = ReferenceTypeNullHandling.NotNull,
            FlattenInheritanceHierarchy = true,
        };
        settings.TypeMappers.Add(new PrimitiveTypeMapper(typeof(Duration), s =>
        {
            s.Type = JsonObjectType.String | JsonObjectType.Integer;
            s.Pattern = Duration.Pattern;
            s.Description = "Seconds (30) or a number with a unit: 250ms, 30s, 10m, 2h.";
        }));
        settings.TypeMappers.Add(new PrimitiveTypeMapper(typeof(ClientFormat), s =>
        {
            // Client formats are spelled with hyphens (codex-toml), unlike the snake_case of every other enum here.
            s.Type = JsonObjectType.String;
            foreach (var format in Enum.GetValues<ClientFormat>())
            {
                s.Enumeration.Add(JsonNamingPolicy.KebabCaseLower.ConvertName(format.ToString()));
            }
        }));
        BoolOrWord<MutatingSetting>(settings, "auto");
        BoolOrWord<PinSetting>(settings, "trust_on_first_use");
        var schema = JsonSchema.FromType<BrokerConfig>(settings);
        schema.Title = "mcp-broker configuration";

        // NJsonSchema writes enum member names as x-enumNames and empty descriptions: noise for editors.
        foreach (var definition in schema.Definitions.Values)
        {
            definition.EnumerationNames.Clear();
            if (definition.IsEnumeration && string.IsNullOrEmpty(definition.Description))
            {
                definition.Description = null;
            }
        }

        return schema;
    }

    private static void BoolOrWord<T>(SystemTextJsonSchemaGeneratorSettings settings, string word) =>
        settings.TypeMappers.Add(new PrimitiveTypeMapper(typeof(T), s =>
        {
            s.Type = JsonObjectType.Boolean | JsonObjectType.String;
            s.Enumeration.Add(true);
            s.Enumeration.Add(false);
            s.Enumeration.Add(word);
        }));
}
