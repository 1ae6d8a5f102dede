using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Newtonsoft.Json.Linq;
using NJsonSchema;
using NJsonSchema.Generation;
using NJsonSchema.Generation.TypeMappers;
using NJsonSchema.Validation;

namespace McpBroker.Config;

/// <summary>
/// The JSON Schema of broker.yaml, generated from the <see cref="BrokerConfig"/> records so it cannot drift
/// from the code; <c>config/broker.schema.json</c> is its committed copy (a golden test keeps them equal).
/// This is the detailed route: NJsonSchema and Json.NET are loaded only when a document is refused by
/// <see cref="SchemaSubset"/> (or the schema is wanted as text), to explain each error.
/// </summary>
public static class ConfigSchema
{
    private static readonly Lazy<JsonSchema> s_schema = new(Generate);

    public static JsonSchema Schema => s_schema.Value;

    public static string ToJson() => Schema.ToJson().ReplaceLineEndings("\n") + "\n";

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

    /// <summary>Checks a document against the schema and explains each failure in terms of YAML paths.</summary>
    public static void Validate(JsonNode? document, List<ConfigIssue> issues)
    {
        foreach (var error in Schema.Validate(ToToken(document)))
        {
            Explain(error, issues);
        }
    }

    /// <summary>The document as compact JSON without the values at <paramref name="paths"/> (those the schema refused).</summary>
    public static string WithoutPaths(JsonNode? document, IEnumerable<string> paths)
    {
        var copy = ToToken(document);
        foreach (var path in paths.Where(p => p.Length > 0).OrderByDescending(p => p.Length))
        {
            try
            {
                var token = copy.SelectToken(path);
                if (token?.Parent is JProperty property)
                {
                    property.Remove();
                }
                else
                {
                    token?.Remove();
                }
            }
            catch (Newtonsoft.Json.JsonException)
            {
            }
        }

        return copy.ToString(Newtonsoft.Json.Formatting.None);
    }

    /// <summary>Json.NET's indented text of a node (how a mapping or list used as a YAML key has always been named).</summary>
    public static string IndentedJson(JsonNode? node) => ToToken(node).ToString();

    /// <summary>The same tree as Json.NET tokens, scalar types kept: a <c>long</c> stays an integer, a <c>double</c> a float.</summary>
    internal static JToken ToToken(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return JValue.CreateNull();
            case JsonObject obj:
            {
                var result = new JObject();
                foreach (var (key, value) in obj)
                {
                    result[key] = ToToken(value);
                }

                return result;
            }

            case JsonArray array:
            {
                var result = new JArray();
                foreach (var item in array)
                {
                    result.Add(ToToken(item));
                }

                return result;
            }

            default:
            {
                var value = node.AsValue();
                return value.TryGetValue<string>(out var text) ? new JValue(text)
                    : value.TryGetValue<bool>(out var flag) ? new JValue(flag)
                    : value.TryGetValue<long>(out var whole) ? new JValue(whole)
                    : value.TryGetValue<double>(out var number) ? new JValue(number)
                    : throw new ArgumentException($"a {value.GetValueKind()} that YAML does not produce", nameof(node));
            }
        }
    }

    private static void Explain(ValidationError error, List<ConfigIssue> issues)
    {
        if (error is ChildSchemaValidationError child)
        {
            foreach (var nested in child.Errors.Values.SelectMany(e => e))
            {
                Explain(nested, issues);
            }

            return;
        }

        var path = PathOf(error.Path);
        var token = error.Token;
        var schema = error.Schema?.ActualSchema;
        var message = error.Kind switch
        {
            // The null branch of an optional value: the other branch's error says what is wrong.
            ValidationErrorKind.NullExpected => null,
            ValidationErrorKind.NoTypeValidates when schema?.Pattern == Duration.Pattern =>
                $"'{token}' is not a duration; write seconds (30) or a number with ms, s, m or h (10m)",
            ValidationErrorKind.NoTypeValidates => $"expected {Expected(schema)}, found {Describe(token)}",
            ValidationErrorKind.NoAdditionalPropertiesAllowed =>
                $"unknown key '{LastSegment(path)}'" + AllowedKeys(error),
            ValidationErrorKind.PropertyRequired => $"missing required key '{error.Property}'",
            ValidationErrorKind.NotInEnumeration =>
                $"'{token}' is not one of {string.Join(", ", schema!.Enumeration.Select(e => e is bool b ? (b ? "true" : "false") : e))}",
            ValidationErrorKind.PatternMismatch when schema?.Pattern == Duration.Pattern =>
                $"'{token}' is not a duration; write seconds (30) or a number with ms, s, m or h (10m)",
            ValidationErrorKind.PatternMismatch => $"'{token}' does not match {schema?.Pattern}",
            ValidationErrorKind.StringExpected => $"expected a string, found {Describe(token)}",
            ValidationErrorKind.IntegerExpected => $"expected a whole number, found {Describe(token)}",
            ValidationErrorKind.BooleanExpected => $"expected true or false, found {Describe(token)}",
            ValidationErrorKind.ArrayExpected => $"expected a list, found {Describe(token)}",
            ValidationErrorKind.ObjectExpected => $"expected a mapping of keys, found {Describe(token)}",
            _ => $"{error.Kind} ({Describe(token)})",
        };
        if (message is null)
        {
            return;
        }

        var issue = ConfigIssue.Error(path, message);
        if (!issues.Contains(issue))
        {
            issues.Add(issue);
        }
    }

    private static string AllowedKeys(ValidationError error)
    {
        var keys = error.Schema?.ActualSchema.ActualProperties.Keys.ToList();
        return keys is { Count: > 0 } ? $"; allowed keys here: {string.Join(", ", keys)}" : "";
    }

    private static string Expected(JsonSchema? schema)
    {
        var type = schema?.Type ?? JsonObjectType.None;
        var names = new List<string>();
        if (type.HasFlag(JsonObjectType.Boolean))
        {
            names.Add("true or false");
        }

        if (type.HasFlag(JsonObjectType.Integer))
        {
            names.Add("a whole number");
        }

        if (type.HasFlag(JsonObjectType.String))
        {
            names.Add("a string");
        }

        if (type.HasFlag(JsonObjectType.Array))
        {
            names.Add("a list");
        }

        if (type.HasFlag(JsonObjectType.Object))
        {
            names.Add("a mapping of keys");
        }

        return names.Count == 0 ? "another kind of value" : string.Join(" or ", names);
    }

    private static string Describe(JToken? token) => token?.Type switch
    {
        null or JTokenType.Null => "nothing",
        JTokenType.Object => "a mapping",
        JTokenType.Array => "a list",
        JTokenType.String => $"the string '{token}'",
        JTokenType.Boolean => $"the boolean {token.ToString().ToLowerInvariant()}",
        _ => $"'{token}'",
    };

    // NJsonSchema paths look like "#/upstreams.memory.args[0]".
    private static string PathOf(string? path) => (path ?? "").TrimStart('#', '/');

    private static string LastSegment(string path) => path[(path.LastIndexOf('.') + 1)..];
}
