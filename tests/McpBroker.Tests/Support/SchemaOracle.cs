using System.Text.Json;
using Json.Schema;

namespace McpBroker.Tests.Support;

/// <summary>
/// The differential test's oracle: judges a config's JSON against <c>config/broker.schema.json</c> with JsonSchema.Net
/// (a JSON Schema implementation nobody here wrote) and words each error as the broker does. Until decision 0062 this
/// was the broker's own validator; the generated one (McpBroker.Config.ConfigSchemaValidator) must agree with it.
/// </summary>
internal static class SchemaOracle
{
    // A valid document is judged with the flag output, which allocates little; only a refused one is evaluated again
    // with the hierarchical output that locates and explains each error.
    private static readonly EvaluationOptions s_verdict = new() { OutputFormat = OutputFormat.Flag };

    private static readonly Lazy<(JsonSchema Schema, JsonDocument Text)> s_compiled = new(Compile);

    private static readonly EvaluationOptions s_explained = new() { OutputFormat = OutputFormat.Hierarchical };

    /// <summary>
    /// The errors of a compact JSON document, as triples: the JSON pointer of the refused value (null when nothing is
    /// there to remove, as a missing key), its YAML path, the message. Empty when the document is valid.
    /// <paramref name="durationPattern"/> is the pattern of duration values (McpBroker.Config.Duration), explained as such.
    /// </summary>
    public static string?[] Judge(string json, string durationPattern)
    {
        using var instance = JsonDocument.Parse(json);
        var (schema, schemaText) = s_compiled.Value;
        if (schema.Evaluate(instance.RootElement, s_verdict).IsValid)
        {
            return [];
        }

        var found = new List<string?>();
        new Explainer(schemaText.RootElement, instance.RootElement, durationPattern, found).Walk(schema.Evaluate(instance.RootElement, s_explained));
        return [.. found];
    }

    // Draft 7 is the closest dialect to the committed draft-04 text that JsonSchema.Net knows (`definitions`, a `$ref`
    // whose siblings are ignored): the schema's draft-04 id is registered as draft 7's keywords. Registries of its own:
    // no other schema is ever looked up or fetched.
    private static (JsonSchema Schema, JsonDocument Text) Compile()
    {
        var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Root, "config", "broker.schema.json")));

        var dialects = new DialectRegistry();
        dialects.Register(Dialect.Draft07.With([], new Uri("http://json-schema.org/draft-04/schema#")));
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry(), DialectRegistry = dialects };
        return (JsonSchema.Build(document.RootElement, options, new Uri("urn:mcp-broker:broker.schema.json")), document);
    }

    private static List<string> Segments(string pointer) =>
        pointer.Length == 0 ? [] : [.. pointer[1..].Split('/').Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];

    /// <summary>Turns JsonSchema.Net's failed evaluations into config issues, reading the schema and the document at each.</summary>
    private sealed class Explainer(JsonElement schema, JsonElement document, string durationPattern, List<string?> found)
    {
        private const string DurationMessage = "is not a duration; write seconds (30) or a number with ms, s, m or h (10m)";

        public void Walk(EvaluationResults result)
        {
            // A passing oneOf (the value, or the null branch of an optional one) keeps its failed branches' errors: not ours.
            if (result.IsValid)
            {
                return;
            }

            if (result.Errors is { Count: > 0 } errors)
            {
                var at = SchemaAt(result.EvaluationPath.ToString());
                var pointer = result.InstanceLocation.ToString();
                foreach (var keyword in errors.Keys)
                {
                    Explain(keyword, at, pointer, errors[keyword]);
                }
            }

            foreach (var detail in result.Details ?? [])
            {
                Walk(detail);
            }
        }

        private void Explain(string keyword, (JsonElement Schema, JsonElement? Parent) at, string pointer, string fallback)
        {
            var value = ValueAt(pointer);
            var path = PathOf(pointer);
            var pattern = Keyword(at.Schema, "pattern");
            switch (keyword)
            {
                // The null branch of an optional value: the other branch's error says what is wrong.
                case "type" when Keyword(at.Schema, "type") is { ValueKind: JsonValueKind.String } type && type.GetString() == "null":
                    return;
                case "type" or "pattern" when pattern?.GetString() == durationPattern:
                    Add(pointer, path, $"'{Text(value)}' {DurationMessage}");
                    return;
                case "type":
                    Add(pointer, path, $"expected {Expected(at.Schema)}, found {Describe(value)}");
                    // A mapping with required keys that is missing altogether also misses those keys (as 'schema_version'
                    // of an empty document).
                    if (Keyword(at.Schema, "required") is not null)
                    {
                        Explain("required", at, pointer, fallback);
                    }

                    return;
                case "pattern":
                    Add(pointer, path, $"'{Text(value)}' does not match {pattern?.GetString()}");
                    return;
                case "enum":
                    var allowed = at.Schema.GetProperty("enum").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText());
                    Add(pointer, path, $"'{Text(value)}' is not one of {string.Join(", ", allowed)}");
                    return;
                case "minLength":
                    Add(pointer, path, $"'{Text(value)}' is too short: write at least {at.Schema.GetProperty("minLength").GetInt32()} character(s)");
                    return;
                case "required":
                    var present = value is { ValueKind: JsonValueKind.Object } obj ? obj.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal) : [];
                    foreach (var name in at.Schema.GetProperty("required").EnumerateArray().Select(e => e.GetString()!).Where(n => !present.Contains(n)))
                    {
                        // The missing key's own path, though nothing is there to remove.
                        Add(null, path.Length == 0 ? name : $"{path}.{name}", $"missing required key '{name}'");
                    }

                    return;
                // The `false` schema of additionalProperties, judging a key the mapping does not know.
                case "":
                    var keys = at.Parent is { } parent && Keyword(parent, "properties") is { } properties ? properties.EnumerateObject().Select(p => p.Name).ToList() : [];
                    var key = Segments(pointer) is { Count: > 0 } segments ? segments[^1] : "";
                    Add(pointer, path, $"unknown key '{key}'" + (keys.Count > 0 ? $"; allowed keys here: {string.Join(", ", keys)}" : ""));
                    return;
                // Keywords that only combine their subschemas' verdicts: the subschemas' own errors say what is wrong.
                case "oneOf" or "anyOf" or "allOf" or "$ref" or "properties" or "additionalProperties" or "items":
                    return;
                default:
                    Add(pointer, path, $"{keyword}: {fallback} ({Describe(value)})");
                    return;
            }
        }

        private static JsonElement? Keyword(JsonElement schema, string name) =>
            schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty(name, out var value) ? value : null;

        private void Add(string? pointer, string path, string message)
        {
            found.Add(pointer);
            found.Add(path);
            found.Add(message);
        }

        /// <summary>The schema an evaluation path leads to, following each <c>$ref</c>, and the schema holding it.</summary>
        private (JsonElement Schema, JsonElement? Parent) SchemaAt(string evaluationPath)
        {
            var current = schema;
            JsonElement? parent = null;
            foreach (var segment in Segments(evaluationPath))
            {
                parent = current;
                if (segment == "$ref")
                {
                    current = Resolve(current.GetProperty("$ref").GetString()!);
                }
                else if (current.ValueKind == JsonValueKind.Array)
                {
                    current = current[int.Parse(segment, System.Globalization.CultureInfo.InvariantCulture)];
                }
                else
                {
                    current = current.GetProperty(segment);
                }
            }

            return (current, parent);
        }

        private JsonElement Resolve(string reference)
        {
            var current = schema;
            foreach (var segment in Segments(reference.TrimStart('#')))
            {
                current = current.GetProperty(segment);
            }

            return current;
        }

        private JsonElement? ValueAt(string pointer)
        {
            var current = document;
            foreach (var segment in Segments(pointer))
            {
                if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(segment, out var child))
                {
                    current = child;
                }
                else if (current.ValueKind == JsonValueKind.Array && int.TryParse(segment, out var i) && i < current.GetArrayLength())
                {
                    current = current[i];
                }
                else
                {
                    return null;
                }
            }

            return current;
        }

        /// <summary>A JSON pointer as the YAML path YamlDocument names positions by: <c>upstreams.memory.args[0]</c>.</summary>
        private string PathOf(string pointer)
        {
            var path = new System.Text.StringBuilder();
            var current = document;
            foreach (var segment in Segments(pointer))
            {
                if (current.ValueKind == JsonValueKind.Array && int.TryParse(segment, out var i))
                {
                    path.Append('[').Append(segment).Append(']');
                    current = i < current.GetArrayLength() ? current[i] : default;
                }
                else
                {
                    path.Append(path.Length == 0 ? "" : ".").Append(segment);
                    current = current.ValueKind == JsonValueKind.Object && current.TryGetProperty(segment, out var child) ? child : default;
                }
            }

            return path.ToString();
        }

        private static string Expected(JsonElement schema)
        {
            var types = !schema.TryGetProperty("type", out var type) ? []
                : type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()).ToHashSet()
                : [type.GetString()];
            var names = new List<string>();
            if (types.Contains("boolean"))
            {
                names.Add("true or false");
            }

            if (types.Contains("integer"))
            {
                names.Add("a whole number");
            }

            if (types.Contains("number"))
            {
                names.Add("a number");
            }

            if (types.Contains("string"))
            {
                names.Add("a string");
            }

            if (types.Contains("array"))
            {
                names.Add("a list");
            }

            if (types.Contains("object"))
            {
                names.Add("a mapping of keys");
            }

            return names.Count == 0 ? "another kind of value" : string.Join(" or ", names);
        }

        /// <summary>A value as the messages quote it: a string's text, anything else as JSON.</summary>
        private static string Text(JsonElement? value) => value switch
        {
            null => "",
            { ValueKind: JsonValueKind.String } v => v.GetString()!,
            { ValueKind: JsonValueKind.Null } => "",
            { } v => v.GetRawText(),
        };

        private static string Describe(JsonElement? value) => value?.ValueKind switch
        {
            null or JsonValueKind.Null or JsonValueKind.Undefined => "nothing",
            JsonValueKind.Object => "a mapping",
            JsonValueKind.Array => "a list",
            JsonValueKind.String => $"the string '{value.Value.GetString()}'",
            JsonValueKind.True or JsonValueKind.False => $"the boolean {value.Value.GetRawText()}",
            _ => $"'{value.Value.GetRawText()}'",
        };
    }
}
