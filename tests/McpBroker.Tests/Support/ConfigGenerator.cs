using System.Globalization;
using System.Text;
using System.Text.Json;

namespace McpBroker.Tests.Support;

/// <summary>
/// broker.yaml texts generated from the JSON Schema, most of them close to valid and some with mistakes at random
/// places: wrong types, unknown keys, missing required keys, enum values in the wrong case, bad durations, quoted
/// booleans, floats where whole numbers go, odd key names. Deterministic for a seed.
/// </summary>
internal sealed class ConfigGenerator(JsonElement schema, int seed)
{
    private const int MaxDepth = 8;

    private static readonly string[] s_strings =
    [
        "", " ", "x", "npx", "memory", "/usr/bin/env", "relative/path", "{runtime.state_dir}/memory.jsonl", "${HOME}", "é",
        "日本語", "a\tb", "line\nbreak", "trailing\n", "\u2028", "\u0085", "quote\"d", "back\\slash", "\u0001ctl", "\u007f",
        "emoji 😀", "30s", "1.5", "True", "true", "null", "~", "shared", "http://127.0.0.1:4318", "-y", "it's", "<b>&</b>",
    ];

    private static readonly string[] s_durations = ["30", "250ms", "30s", "10m", "2h", "0", "10q", "1.5s", "-5s", "30s\n", " 30s", "", "1d"];

    private static readonly string[] s_names = ["a", "memory", "github", "x.y", "bad name", "my-server", "1", "true", "null", "", "[0]", "é", "raw"];

    private static readonly string[] s_plainIntegers = ["0", "1", "5", "30", "-1", "+7", "2147483648", "99999999999999999999", "1.0", "1e3", "0x10", "1_000", ".5"];

    private readonly Random _random = new(seed);
    private readonly JsonElement _definitions = schema.GetProperty("definitions");
    private double _mistakes;

    /// <summary>One config text; about a third of them are meant to be valid as far as the schema goes.</summary>
    public string Next()
    {
        _mistakes = new[] { 0, 0, 0.004, 0.015, 0.05 }[_random.Next(5)];
        if (_random.NextDouble() < 0.01)
        {
            return Value(Any(), 0) + "\n";
        }

        // The root as a block mapping with flow values, so the issues carry different line numbers.
        var sb = new StringBuilder();
        foreach (var (key, value) in Entries(schema, 0))
        {
            sb.Append(key).Append(": ").Append(value).Append('\n');
        }

        return sb.Length == 0 ? "{}\n" : sb.ToString();
    }

    private string Value(JsonElement s, int depth)
    {
        if (depth >= MaxDepth)
        {
            return Plain("null");
        }

        if (Chance(_mistakes))
        {
            return Value(Any(), depth + 1);
        }

        if (s.TryGetProperty("$ref", out var reference))
        {
            return Value(_definitions.GetProperty(reference.GetString()!["#/definitions/".Length..]), depth);
        }

        if (s.TryGetProperty("oneOf", out var oneOf))
        {
            var options = oneOf.EnumerateArray().ToList();
            return Value(options[_random.Next(options.Count)], depth);
        }

        var types = s.TryGetProperty("type", out var type)
            ? type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!]
            : [];
        if (s.TryGetProperty("enum", out var values))
        {
            return EnumValue(values.EnumerateArray().ToList());
        }

        if (types.Count == 0)
        {
            return s.EnumerateObject().Any() ? Plain("null") : Anything(depth);
        }

        return types[_random.Next(types.Count)] switch
        {
            "null" => Plain(Pick(["null", "~", "Null"])),
            "boolean" => Chance(0.9) ? Plain(Pick(["true", "false", "True", "FALSE"])) : Quoted(Pick(["true", "no"])),
            "integer" => Chance(0.85) ? Plain(Pick(["1", "0", "5", "30", "500", "1000"])) : Plain(Pick(s_plainIntegers)),
            "number" => Plain(Pick(["1", "1.5", "-2"])),
            "string" when s.TryGetProperty("pattern", out _) => Scalar(Chance(0.85) ? Pick(s_durations[..5]) : Pick(s_durations)),
            "string" => Scalar(Pick(s_strings)),
            "array" => "[" + string.Join(", ", Enumerable.Range(0, _random.Next(4)).Select(_ => s.TryGetProperty("items", out var items) ? Value(items, depth + 1) : Anything(depth + 1))) + "]",
            "object" => "{" + string.Join(", ", Entries(s, depth + 1).Select(e => $"{e.Key}: {e.Value}")) + "}",
            var other => throw new InvalidOperationException($"type {other}"),
        };
    }

    private IEnumerable<(string Key, string Value)> Entries(JsonElement s, int depth)
    {
        var required = s.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(e => e.GetString()!).ToHashSet() : [];
        if (s.TryGetProperty("properties", out var properties))
        {
            foreach (var property in properties.EnumerateObject())
            {
                var include = required.Contains(property.Name) ? !Chance(_mistakes * 4 + 0.01) : Chance(0.4);
                if (include)
                {
                    // Mostly the one supported version, so most documents get past the first rule.
                    yield return (property.Name, property.Name == "schema_version" && Chance(0.9) ? "1" : Value(property.Value, depth));
                }
            }
        }

        if (s.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.Object)
        {
            var used = new HashSet<string>();
            for (var i = _random.Next(4); i > 0; i--)
            {
                var name = Chance(0.8) ? Pick(["memory", "github", "t", "raw", "default", "fs"]) : Pick(s_names);
                if (used.Add(name))
                {
                    yield return (Scalar(name), Value(additional, depth));
                }
            }
        }

        if (Chance(_mistakes * 3))
        {
            yield return (Scalar(Pick(["colour", "Command", "mode ", "x"])), Value(Any(), depth));
        }
    }

    private string EnumValue(List<JsonElement> values)
    {
        var value = values[_random.Next(values.Count)];
        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return Chance(0.8) ? Plain(value.GetBoolean() ? Pick(["true", "True"]) : "false") : Quoted(value.GetBoolean() ? Pick(["True", "true"]) : "False");
        }

        var text = value.GetString()!;
        return Chance(0.9) ? Scalar(text) : Scalar(Pick([text.ToUpperInvariant(), text.Replace('_', '-'), text + " ", "perSession"]));
    }

    private string Anything(int depth) => depth >= MaxDepth - 2 ? Scalar(Pick(s_strings)) : _random.Next(6) switch
    {
        0 => "{" + string.Join(", ", Enumerable.Range(0, _random.Next(3)).Select(_ => $"{Scalar(Pick(s_names))}: {Anything(depth + 1)}")) + "}",
        1 => "[" + string.Join(", ", Enumerable.Range(0, _random.Next(3)).Select(_ => Anything(depth + 1))) + "]",
        2 => Plain(Pick(s_plainIntegers)),
        3 => Plain(Pick(["true", "false", "null", "1.5", "-0.0", "1e999", "3.0"])),
        _ => Scalar(Pick(s_strings)),
    };

    /// <summary>A schema that any value was meant for: an empty one.</summary>
    private static JsonElement Any() => s_empty.RootElement;

    private static readonly JsonDocument s_empty = JsonDocument.Parse("{}");

    /// <summary>Plain when YAML reads it back as the same string or as a typed scalar; quoted otherwise.</summary>
    private string Scalar(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '/' or '-') && char.IsAsciiLetterOrDigit(text[0]) && Chance(0.7)
            ? Plain(text)
            : Quoted(text);

    private static string Plain(string text) => text;

    private static string Quoted(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                _ when c < ' ' || c is '\u0085' or '\u2028' or '\u2029' or '\u007f' => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }

    private bool Chance(double p) => _random.NextDouble() < p;

    private string Pick(string[] options) => options[_random.Next(options.Length)];
}
