using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>
/// The fast route of schema validation: accepts or refuses a document against <c>config/broker.schema.json</c>
/// (embedded) over <see cref="JsonNode"/>, judging each keyword the way NJsonSchema does, and says nothing more.
/// A document it refuses goes to <see cref="ConfigSchema"/>, whose NJsonSchema validation explains every error, so
/// messages are the same on both routes; a valid config never loads NJsonSchema, Json.NET and what they pull in
/// (about 9 MB of an idle daemon's memory). It knows only the keywords the schema uses (<c>type</c>, <c>enum</c>,
/// <c>oneOf</c>, <c>$ref</c>, <c>properties</c>, <c>required</c>, <c>additionalProperties</c>, <c>items</c>,
/// <c>pattern</c>, <c>minLength</c>); a schema with any other is not compiled and every document takes the detailed
/// route. A differential test over thousands of generated configs keeps its verdicts equal to NJsonSchema's.
/// </summary>
internal sealed class SchemaSubset
{
    private static readonly Lazy<SchemaSubset?> s_embedded = new(LoadEmbedded);

    // Formats NJsonSchema checks; a schema using one of them is outside the subset. Other formats it ignores.
    private static readonly string[] s_checkedFormats =
        ["date-time", "date", "time", "time-span", "duration", "email", "guid", "uuid", "hostname", "ipv4", "ipv6", "uri", "byte", "base64"];

    private readonly Rule _root;

    private SchemaSubset(Rule root) => _root = root;

    /// <summary>The compiled embedded schema, or null when it uses a keyword outside the subset.</summary>
    public static SchemaSubset? Embedded => s_embedded.Value;

    [Flags]
    private enum Kinds
    {
        None = 0,
        Null = 1,
        Boolean = 2,
        Integer = 4,
        Float = 8,
        String = 16,
        Array = 32,
        Object = 64,
    }

    /// <summary>True when NJsonSchema would find no error in <paramref name="document"/>.</summary>
    public bool Accepts(JsonNode? document) => Valid(document, _root);

    /// <summary>Compiles <paramref name="schema"/>; null, with what it could not judge in <paramref name="unsupported"/>, when it is outside the subset.</summary>
    public static SchemaSubset? TryCompile(JsonElement schema, List<string> unsupported)
    {
        var compiler = new Compiler(unsupported);
        var root = compiler.Compile(schema);
        return unsupported.Count == 0 ? new SchemaSubset(root) : null;
    }

    private static SchemaSubset? LoadEmbedded()
    {
        using var stream = typeof(SchemaSubset).Assembly.GetManifestResourceStream("McpBroker.broker.schema.json")!;
        using var document = JsonDocument.Parse(stream);
        return TryCompile(document.RootElement, []);
    }

    // The checks below follow NJsonSchema's JsonSchemaValidator keyword by keyword (oneOf, type, enum, properties),
    // including its quirks: a null skips the type and enum checks of a schema that allows null, a property whose
    // value is null is skipped when the property's schema allows null, and enum values compare as .NET strings
    // (the boolean true is "True", so the quoted string 'True' matches it).
    private static bool Valid(JsonNode? node, Rule rule)
    {
        rule = rule.Actual;
        if (rule.OneOf.Length > 0 && rule.OneOf.Count(r => Valid(node, r)) != 1)
        {
            return false;
        }

        var kind = KindOf(node);
        var nullAllowed = kind == Kinds.Null && Nullable(rule);
        if (!nullAllowed && !ValidType(node, kind, rule))
        {
            return false;
        }

        if (!nullAllowed && rule.Enum is { } values && (EnumText(node) is not { } text || !values.Contains(text)))
        {
            return false;
        }

        return ValidProperties(node as JsonObject, rule);
    }

    private static bool ValidType(JsonNode? node, Kinds kind, Rule rule)
    {
        if (node is JsonArray array && rule.Items is { } items && !array.All(item => Valid(item, items)))
        {
            return false;
        }

        if (kind == Kinds.String)
        {
            var text = node!.GetValue<string>();
            if (rule.Pattern?.IsMatch(text) == false || text.Length < rule.MinLength)
            {
                return false;
            }
        }

        return rule.Types == Kinds.None || (rule.Types & kind) != 0;
    }

    private static bool ValidProperties(JsonObject? obj, Rule rule)
    {
        if (obj is null && (rule.Types & Kinds.Null) != 0)
        {
            return true;
        }

        foreach (var (name, property) in rule.Properties)
        {
            if (obj is not null && obj.TryGetPropertyValue(name, out var value))
            {
                if (!(value is null && Nullable(property)) && !Valid(value, property))
                {
                    return false;
                }
            }
            else if (rule.Required.Contains(name))
            {
                return false;
            }
        }

        if (rule.Required.Any(name => !rule.Properties.ContainsKey(name) && obj?.ContainsKey(name) != true))
        {
            return false;
        }

        if (obj is null)
        {
            return true;
        }

        foreach (var (name, value) in obj)
        {
            if (rule.Properties.ContainsKey(name))
            {
                continue;
            }

            if (rule.Additional is { } additional ? !Valid(value, additional) : !rule.AllowAdditional)
            {
                return false;
            }
        }

        return true;
    }

    private static bool Nullable(Rule rule) =>
        (rule.Types & Kinds.Null) != 0
        || (rule.Types == Kinds.None && rule.OneOf.Any(Nullable))
        || (rule.Reference is { } target && Nullable(target));

    private static Kinds KindOf(JsonNode? node) => node switch
    {
        null => Kinds.Null,
        JsonObject => Kinds.Object,
        JsonArray => Kinds.Array,
        _ => node.GetValueKind() switch
        {
            JsonValueKind.String => Kinds.String,
            JsonValueKind.True or JsonValueKind.False => Kinds.Boolean,
            JsonValueKind.Number => node.AsValue().TryGetValue<long>(out _) ? Kinds.Integer : Kinds.Float,
            _ => Kinds.None,
        },
    };

    /// <summary>A value as NJsonSchema compares it with enum values: its .NET <c>ToString()</c>.</summary>
    private static string? EnumText(JsonNode? node) => node switch
    {
        null => "",
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonValue value when value.TryGetValue<bool>(out var flag) => flag ? "True" : "False",
        JsonValue value when value.TryGetValue<long>(out var whole) => whole.ToString(CultureInfo.InvariantCulture),
        JsonValue value when value.TryGetValue<double>(out var number) => number.ToString(CultureInfo.InvariantCulture),
        _ => null, // a mapping or list: its JSON text, which the compiler makes sure no enum value can equal
    };

    private sealed class Rule
    {
        public Rule? Reference { get; set; }

        public Kinds Types { get; set; }

        public Rule[] OneOf { get; set; } = [];

        public Dictionary<string, Rule> Properties { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Required { get; } = new(StringComparer.Ordinal);

        public bool AllowAdditional { get; set; } = true;

        public Rule? Additional { get; set; }

        public Rule? Items { get; set; }

        public Regex? Pattern { get; set; }

        public int? MinLength { get; set; }

        public HashSet<string>? Enum { get; set; }

        /// <summary>The schema a <c>$ref</c> points to, as NJsonSchema's ActualSchema (the compiler refuses cycles).</summary>
        public Rule Actual => Reference?.Actual ?? this;
    }

    private sealed class Compiler(List<string> unsupported)
    {
        private const string DefinitionsPrefix = "#/definitions/";
        private readonly Dictionary<string, Rule> _definitions = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Regex> _patterns = new(StringComparer.Ordinal);

        public Rule Compile(JsonElement root)
        {
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("definitions", out var definitions) && definitions.ValueKind == JsonValueKind.Object)
            {
                foreach (var definition in definitions.EnumerateObject())
                {
                    _definitions[definition.Name] = new Rule();
                }

                foreach (var definition in definitions.EnumerateObject())
                {
                    Fill(_definitions[definition.Name], definition.Value, DefinitionsPrefix + definition.Name);
                }
            }

            var rule = new Rule();
            Fill(rule, root, "#", isRoot: true);
            foreach (var (name, definition) in _definitions)
            {
                var seen = new HashSet<Rule>();
                for (var r = definition; r.Reference is { } next; r = next)
                {
                    if (!seen.Add(r))
                    {
                        unsupported.Add($"{DefinitionsPrefix}{name}: a $ref cycle");
                        break;
                    }
                }
            }

            return rule;
        }

        private Rule Read(JsonElement schema, string where)
        {
            var rule = new Rule();
            Fill(rule, schema, where);
            return rule;
        }

        private void Fill(Rule rule, JsonElement schema, string where, bool isRoot = false)
        {
            if (schema.ValueKind != JsonValueKind.Object)
            {
                unsupported.Add($"{where}: a schema that is not an object");
                return;
            }

            var validating = 0;
            foreach (var keyword in schema.EnumerateObject())
            {
                var value = keyword.Value;
                var at = $"{where}/{keyword.Name}";
                validating++;
                switch (keyword.Name)
                {
                    case "$schema" or "title" or "description" or "default" or "examples" or "$comment":
                        validating--;
                        break;
                    case "definitions" when isRoot:
                        validating--;
                        break;
                    case "$ref":
                        var target = value.GetString() ?? "";
                        if (target.StartsWith(DefinitionsPrefix, StringComparison.Ordinal) && _definitions.TryGetValue(target[DefinitionsPrefix.Length..], out var referenced))
                        {
                            rule.Reference = referenced;
                        }
                        else
                        {
                            unsupported.Add($"{at}: '{target}' is not one of this schema's definitions");
                        }

                        break;
                    case "type":
                        rule.Types = value.ValueKind == JsonValueKind.Array
                            ? value.EnumerateArray().Aggregate(Kinds.None, (kinds, t) => kinds | TypeKinds(t, at))
                            : TypeKinds(value, at);
                        break;
                    case "enum":
                        rule.Enum = new HashSet<string>(StringComparer.Ordinal);
                        foreach (var item in value.EnumerateArray())
                        {
                            var text = item.ValueKind switch
                            {
                                JsonValueKind.True => "True",
                                JsonValueKind.False => "False",
                                JsonValueKind.String => item.GetString()!,
                                _ => null,
                            };
                            if (text is null || text.StartsWith('{') || text.StartsWith('['))
                            {
                                unsupported.Add($"{at}: the value {item.GetRawText()}");
                            }
                            else
                            {
                                rule.Enum.Add(text);
                            }
                        }

                        break;
                    case "oneOf":
                        rule.OneOf = [.. value.EnumerateArray().Select((s, i) => Read(s, $"{at}/{i}"))];
                        break;
                    case "properties":
                        foreach (var property in value.EnumerateObject())
                        {
                            rule.Properties[property.Name] = Read(property.Value, $"{at}/{property.Name}");
                        }

                        break;
                    case "required":
                        rule.Required.UnionWith(value.EnumerateArray().Select(e => e.GetString()!));
                        break;
                    case "additionalProperties" when value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        rule.AllowAdditional = value.GetBoolean();
                        break;
                    case "additionalProperties":
                        rule.Additional = Read(value, at);
                        break;
                    case "items" when value.ValueKind == JsonValueKind.Object:
                        rule.Items = Read(value, at);
                        break;
                    case "pattern":
                        var pattern = value.GetString()!;
                        if (!_patterns.TryGetValue(pattern, out var regex))
                        {
                            _patterns[pattern] = regex = new Regex(pattern, RegexOptions.None);
                        }

                        rule.Pattern = regex;
                        break;
                    case "minLength":
                        rule.MinLength = value.GetInt32();
                        break;
                    case "format" when !s_checkedFormats.Contains(value.GetString()):
                        // NJsonSchema has no check for this format (int32, int64...): it judges nothing.
                        validating--;
                        break;
                    default:
                        unsupported.Add(at);
                        break;
                }
            }

            if (rule.Reference is not null && validating > 1)
            {
                unsupported.Add($"{where}: $ref beside other keywords");
            }
        }

        private Kinds TypeKinds(JsonElement type, string where)
        {
            switch (type.GetString())
            {
                case "null":
                    return Kinds.Null;
                case "boolean":
                    return Kinds.Boolean;
                case "integer":
                    return Kinds.Integer;
                case "number":
                    return Kinds.Integer | Kinds.Float;
                case "string":
                    return Kinds.String;
                case "array":
                    return Kinds.Array;
                case "object":
                    return Kinds.Object;
                default:
                    unsupported.Add($"{where}: type {type.GetRawText()}");
                    return Kinds.None;
            }
        }
    }
}
