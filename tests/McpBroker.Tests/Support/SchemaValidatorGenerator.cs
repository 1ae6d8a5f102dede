using System.Globalization;
using System.Text;
using System.Text.Json;
using McpBroker.Config;

namespace McpBroker.Tests.Support;

/// <summary>
/// Writes <c>src/McpBroker.Core/Config/ConfigSchemaValidator.g.cs</c>, the config's schema checks as code, from
/// <c>config/broker.schema.json</c> (which <see cref="SchemaGenerator"/> writes from the records). It knows the keywords
/// that schema uses — <c>type</c>, <c>properties</c>, <c>additionalProperties</c>, <c>required</c>, <c>items</c>,
/// <c>enum</c> of strings, <c>pattern</c>, <c>minLength</c>, <c>$ref</c> and the optional value's
/// <c>oneOf: [null, $ref]</c> — and refuses any other, so a new construct in the records fails the golden test here
/// instead of going unchecked. <c>format</c> (int32) is an annotation, as for JsonSchema.Net, which the differential
/// test holds the generated code to.
/// </summary>
internal static class SchemaValidatorGenerator
{
    private static readonly HashSet<string> s_annotations = ["description", "title", "format", "$schema", "definitions"];

    public static string Generate(string schemaJson)
    {
        using var document = JsonDocument.Parse(schemaJson);
        var root = document.RootElement;
        var definitions = root.TryGetProperty("definitions", out var defs) ? defs : default;
        var writer = new Writer(definitions);
        writer.Method("Root", root, isPublic: true);
        if (definitions.ValueKind == JsonValueKind.Object)
        {
            foreach (var definition in definitions.EnumerateObject())
            {
                writer.Method(definition.Name, definition.Value, isPublic: false);
            }
        }

        return writer.ToString();
    }

    private sealed class Writer(JsonElement definitions)
    {
        private readonly StringBuilder _methods = new();
        private readonly List<string> _patterns = [];
        private readonly List<string> _sets = [];
        private int _names;

        public void Method(string name, JsonElement schema, bool isPublic)
        {
            _names = 0;
            _methods.AppendLine(CultureInfo.InvariantCulture, $"    {(isPublic ? "internal" : "private")} static void {name}(JsonElement value, SchemaLocation at, List<SchemaError> found)");
            _methods.AppendLine("    {");
            Node(schema, "value", "at", 2);
            _methods.AppendLine("    }");
            _methods.AppendLine();
        }

        private void Line(int indent, string text) => _methods.Append(' ', indent * 4).AppendLine(text);

        private void Node(JsonElement schema, string value, string at, int indent)
        {
            if (schema.ValueKind == JsonValueKind.True || (schema.ValueKind == JsonValueKind.Object && !schema.EnumerateObject().Any(p => !s_annotations.Contains(p.Name))))
            {
                return;
            }

            if (schema.ValueKind != JsonValueKind.Object)
            {
                throw Unsupported(schema, "a schema that is not a mapping");
            }

            foreach (var keyword in schema.EnumerateObject().Select(p => p.Name))
            {
                if (!s_annotations.Contains(keyword) && keyword is not ("type" or "properties" or "additionalProperties" or "required" or "items" or "enum" or "pattern" or "minLength" or "$ref" or "oneOf"))
                {
                    throw Unsupported(schema, $"the keyword '{keyword}'");
                }
            }

            if (schema.TryGetProperty("$ref", out var reference))
            {
                // Draft 7 (as the committed draft-04 text is read): a $ref's siblings are ignored.
                Line(indent, $"{Definition(reference)}({value}, {at}, found);");
                return;
            }

            if (schema.TryGetProperty("oneOf", out var oneOf))
            {
                OptionalValue(schema, oneOf, value, at, indent);
                return;
            }

            var types = Types(schema);
            var pattern = schema.TryGetProperty("pattern", out var p) ? p.GetString()! : null;
            var duration = pattern == Duration.Pattern ? "true" : "false";
            var required = schema.TryGetProperty("required", out var r) ? $"[{string.Join(", ", r.EnumerateArray().Select(e => Literal(e.GetString()!)))}]" : null;
            if (types.Count > 0)
            {
                Line(indent, $"if (!({Is(types, value)}))");
                Line(indent, "{");
                Line(indent + 1, $"WrongType(found, {value}, {at}, {Literal(Expected(types))}, duration: {duration});");
                if (required is not null)
                {
                    // A mapping with required keys that is missing altogether also misses those keys.
                    Line(indent + 1, $"Missing(found, {value}, {at}, {required});");
                }

                Line(indent, "}");
            }

            if (schema.TryGetProperty("enum", out var allowed))
            {
                var values = allowed.EnumerateArray().ToList();
                if (values.Any(e => e.ValueKind is not (JsonValueKind.String or JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null)))
                {
                    throw Unsupported(schema, "an enum of other values than strings, booleans and null");
                }

                var tests = new List<string>();
                if (values.Where(e => e.ValueKind == JsonValueKind.String).Select(e => Literal(e.GetString()!)).ToList() is { Count: > 0 } strings)
                {
                    var set = $"[{string.Join(", ", strings)}]";
                    if (!_sets.Contains(set))
                    {
                        _sets.Add(set);
                    }

                    tests.Add($"IsOneOf({value}, s_allowed{_sets.IndexOf(set)})");
                }

                tests.AddRange(values.Where(e => e.ValueKind != JsonValueKind.String).Select(e => $"{value}.ValueKind == JsonValueKind.{e.ValueKind}"));
                Line(indent, $"if (!({string.Join(" || ", tests)}))");
                Line(indent, "{");
                Line(indent + 1, $"NotAllowed(found, {value}, {at}, {Literal(string.Join(", ", values.Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText())))});");
                Line(indent, "}");
            }

            if (pattern is not null)
            {
                if (!_patterns.Contains(pattern))
                {
                    _patterns.Add(pattern);
                }

                Line(indent, $"if ({value}.ValueKind == JsonValueKind.String && !Pattern{_patterns.IndexOf(pattern)}().IsMatch({value}.GetString()!))");
                Line(indent, "{");
                Line(indent + 1, $"NoMatch(found, {value}, {at}, {Literal(pattern)}, duration: {duration});");
                Line(indent, "}");
            }

            if (schema.TryGetProperty("minLength", out var minLength))
            {
                Line(indent, $"if ({value}.ValueKind == JsonValueKind.String && new StringInfo({value}.GetString()!).LengthInTextElements < {minLength.GetInt32()})");
                Line(indent, "{");
                Line(indent + 1, $"TooShort(found, {value}, {at}, {minLength.GetInt32()});");
                Line(indent, "}");
            }

            if (required is not null)
            {
                Line(indent, $"if ({value}.ValueKind == JsonValueKind.Object)");
                Line(indent, "{");
                Line(indent + 1, $"Missing(found, {value}, {at}, {required});");
                Line(indent, "}");
            }

            Members(schema, value, at, indent);
            if (schema.TryGetProperty("items", out var items) && !IsEmpty(items))
            {
                var n = ++_names;
                Line(indent, $"if ({value}.ValueKind == JsonValueKind.Array)");
                Line(indent, "{");
                Line(indent + 1, $"var index{n} = 0;");
                Line(indent + 1, $"foreach (var item{n} in {value}.EnumerateArray())");
                Line(indent + 1, "{");
                Line(indent + 2, $"var itemAt{n} = {at}.Item(index{n}++);");
                Node(items, $"item{n}", $"itemAt{n}", indent + 2);
                Line(indent + 1, "}");
                Line(indent, "}");
            }
        }

        /// <summary><c>properties</c>, then <c>additionalProperties</c>: JsonSchema.Net reports them in that order.</summary>
        private void Members(JsonElement schema, string value, string at, int indent)
        {
            var properties = schema.TryGetProperty("properties", out var props) ? props.EnumerateObject().ToList() : [];
            var hasAdditional = schema.TryGetProperty("additionalProperties", out var additional) && !IsEmpty(additional);
            if (properties.Count == 0 && !hasAdditional)
            {
                return;
            }

            var n = ++_names;
            Line(indent, $"if ({value}.ValueKind == JsonValueKind.Object)");
            Line(indent, "{");
            if (properties.Count > 0)
            {
                foreach (var property in properties.Where(p => !IsEmpty(p.Value)))
                {
                    var m = ++_names;
                    Line(indent + 1, $"if ({value}.TryGetProperty({Literal(property.Name)}, out var member{m}))");
                    Line(indent + 1, "{");
                    Line(indent + 2, $"var memberAt{m} = {at}.Key({Literal(property.Name)});");
                    Node(property.Value, $"member{m}", $"memberAt{m}", indent + 2);
                    Line(indent + 1, "}");
                }
            }

            if (hasAdditional)
            {
                Line(indent + 1, $"foreach (var other{n} in {value}.EnumerateObject())");
                Line(indent + 1, "{");
                if (properties.Count > 0)
                {
                    Line(indent + 2, $"if ({string.Join(" || ", properties.Select(p => $"other{n}.NameEquals({Literal(p.Name)})"))})");
                    Line(indent + 2, "{");
                    Line(indent + 3, "continue;");
                    Line(indent + 2, "}");
                    _methods.AppendLine();
                }

                Line(indent + 2, $"var otherAt{n} = {at}.Key(other{n}.Name);");
                if (additional.ValueKind == JsonValueKind.False)
                {
                    Line(indent + 2, $"UnknownKey(found, otherAt{n}, other{n}.Name, {Literal(string.Join(", ", properties.Select(p => p.Name)))});");
                }
                else
                {
                    Line(indent + 2, $"var otherValue{n} = other{n}.Value;");
                    Node(additional, $"otherValue{n}", $"otherAt{n}", indent + 2);
                }

                Line(indent + 1, "}");
            }

            Line(indent, "}");
        }

        /// <summary>NJsonSchema's optional value, <c>oneOf: [{type: null}, {$ref}]</c>: null, or what the definition allows.</summary>
        private void OptionalValue(JsonElement schema, JsonElement oneOf, string value, string at, int indent)
        {
            var branches = oneOf.EnumerateArray().ToList();
            var nullBranch = branches.FindIndex(b => b.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "null");
            var refBranch = branches.FindIndex(b => b.TryGetProperty("$ref", out _));
            if (branches.Count != 2 || nullBranch < 0 || refBranch < 0 || schema.EnumerateObject().Any(p => p.Name != "oneOf" && !s_annotations.Contains(p.Name)))
            {
                throw Unsupported(schema, "a oneOf other than [{type: null}, {$ref}]");
            }

            var target = Resolve(branches[refBranch].GetProperty("$ref"));
            if (Types(target) is var types && (types.Count == 0 || types.Contains("null")))
            {
                // Null would then match both branches, which oneOf refuses: this shape would need the general rule.
                throw Unsupported(schema, "a oneOf whose definition also allows null");
            }

            Line(indent, $"if ({value}.ValueKind != JsonValueKind.Null)");
            Line(indent, "{");
            Line(indent + 1, $"{Definition(branches[refBranch].GetProperty("$ref"))}({value}, {at}, found);");
            Line(indent, "}");
        }

        private static bool IsEmpty(JsonElement schema) =>
            schema.ValueKind == JsonValueKind.True || (schema.ValueKind == JsonValueKind.Object && schema.EnumerateObject().All(p => s_annotations.Contains(p.Name)));

        private static HashSet<string> Types(JsonElement schema) =>
            !schema.TryGetProperty("type", out var type) ? []
            : type.ValueKind == JsonValueKind.Array ? [.. type.EnumerateArray().Select(t => t.GetString()!)]
            : [type.GetString()!];

        private static string Is(HashSet<string> types, string value)
        {
            var kinds = new List<string>();
            var tests = new List<string>();
            foreach (var type in types.Order(StringComparer.Ordinal))
            {
                switch (type)
                {
                    case "null": kinds.Add("JsonValueKind.Null"); break;
                    case "string": kinds.Add("JsonValueKind.String"); break;
                    case "object": kinds.Add("JsonValueKind.Object"); break;
                    case "array": kinds.Add("JsonValueKind.Array"); break;
                    case "boolean": kinds.Add("JsonValueKind.True or JsonValueKind.False"); break;
                    case "number": kinds.Add("JsonValueKind.Number"); break;
                    case "integer": tests.Add($"IsInteger({value})"); break;
                    default: throw new InvalidOperationException($"unknown JSON Schema type '{type}'");
                }
            }

            if (kinds.Count > 0)
            {
                tests.Insert(0, $"{value}.ValueKind is {string.Join(" or ", kinds)}");
            }

            return string.Join(" || ", tests);
        }

        /// <summary>What the message says is allowed: the types in a fixed order, null left unsaid.</summary>
        private static string Expected(HashSet<string> types)
        {
            (string Type, string Name)[] order = [("boolean", "true or false"), ("integer", "a whole number"), ("number", "a number"),
                ("string", "a string"), ("array", "a list"), ("object", "a mapping of keys")];
            var names = order.Where(o => types.Contains(o.Type)).Select(o => o.Name).ToList();
            return names.Count == 0 ? "another kind of value" : string.Join(" or ", names);
        }

        private string Definition(JsonElement reference)
        {
            Resolve(reference);
            return reference.GetString()!["#/definitions/".Length..];
        }

        private JsonElement Resolve(JsonElement reference)
        {
            var text = reference.GetString()!;
            if (!text.StartsWith("#/definitions/", StringComparison.Ordinal) || !definitions.TryGetProperty(text["#/definitions/".Length..], out var target))
            {
                throw new InvalidOperationException($"the schema's $ref '{text}' is not one of its definitions");
            }

            return target;
        }

        private static InvalidOperationException Unsupported(JsonElement schema, string what) =>
            new($"SchemaValidatorGenerator does not know {what} (in {schema.GetRawText()[..Math.Min(200, schema.GetRawText().Length)]}); teach it, and the differential test against JsonSchema.Net will say whether it judges as JsonSchema.Net does");

        private static string Literal(string text) => JsonSerializer.Serialize(text, s_literal);

        private static readonly JsonSerializerOptions s_literal = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public override string ToString()
        {
            var text = new StringBuilder();
            text.AppendLine("// <auto-generated>");
            text.AppendLine("// From config/broker.schema.json by tests/McpBroker.Tests/Support/SchemaValidatorGenerator.cs. Do not edit: change the");
            text.AppendLine("// records (or the generator), then run the tests once with MCP_BROKER_UPDATE_GOLDEN=1 and review the diff.");
            text.AppendLine("// </auto-generated>");
            text.AppendLine("#nullable enable");
            text.AppendLine("using System.Globalization;");
            text.AppendLine("using System.Text.Json;");
            text.AppendLine("using System.Text.RegularExpressions;");
            text.AppendLine();
            text.AppendLine("namespace McpBroker.Config;");
            text.AppendLine();
            text.AppendLine("internal static partial class ConfigSchemaValidator");
            text.AppendLine("{");
            for (var i = 0; i < _sets.Count; i++)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"    private static readonly HashSet<string> s_allowed{i} = new({_sets[i]}, StringComparer.Ordinal);");
                text.AppendLine();
            }

            text.Append(_methods);
            for (var i = 0; i < _patterns.Count; i++)
            {
                // ECMAScript, as JsonSchema.Net matches (and JSON Schema asks): \d and \w are ASCII only.
                text.AppendLine(CultureInfo.InvariantCulture, $"    [GeneratedRegex({Literal(_patterns[i])}, RegexOptions.ECMAScript)]");
                text.AppendLine(CultureInfo.InvariantCulture, $"    private static partial Regex Pattern{i}();");
                if (i < _patterns.Count - 1)
                {
                    text.AppendLine();
                }
            }

            return text.ToString().TrimEnd() + "\n}\n";
        }
    }
}
