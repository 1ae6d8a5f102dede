using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using McpBroker.Config;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Config;

/// <summary>
/// The generated config validator (<see cref="ConfigSchemaValidator"/>): committed as the schema generates it, and
/// judging every document as JsonSchema.Net does (<see cref="SchemaOracle"/>) — the same errors, messages and order.
/// </summary>
public sealed class ConfigSchemaValidatorTests
{
    private static readonly string s_schemaPath = Path.Combine(Repo.Root, "config", "broker.schema.json");

    [Fact]
    public void Generated_CommittedFile_EqualsWhatTheSchemaGenerates()
    {
        var path = Path.Combine(Repo.Root, "src", "McpBroker.Core", "Config", "ConfigSchemaValidator.g.cs");
        // From the schema the records generate, which the schema test keeps equal to the committed one: one run with
        // MCP_BROKER_UPDATE_GOLDEN=1 rewrites both.
        var generated = SchemaValidatorGenerator.Generate(SchemaGenerator.ToJson());
        if (Environment.GetEnvironmentVariable("MCP_BROKER_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, generated);
        }

        Assert.True(File.ReadAllText(path) == generated, $"{path} is not what config/broker.schema.json generates: run the tests once with MCP_BROKER_UPDATE_GOLDEN=1 and review the diff");
    }

    [Fact]
    public void Judge_DocumentsDrawnFromTheSchema_AgreesWithJsonSchemaNet()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(s_schemaPath));
        var refused = 0;
        var drawn = new HashSet<string>(StringComparer.Ordinal);
        Gen.Int[0, int.MaxValue].FuzzSample(seed =>
        {
            var json = new DocumentDrawer(schema.RootElement, new Random(seed), drawn).Draw();
            var expected = SchemaOracle.Judge(json, Duration.Pattern);
            var actual = ConfigSchemaValidator.Judge(json).SelectMany(e => new[] { e.Pointer, e.Path, e.Message }).ToArray();
            Assert.True(expected.SequenceEqual(actual), $"{json}\nJsonSchema.Net:\n  {string.Join("\n  ", expected)}\ngenerated:\n  {string.Join("\n  ", actual)}");
            refused += expected.Length > 0 ? 1 : 0;
        }, seed: "0000000000000000", iter: 3000, threads: 1);

        // Both kinds were drawn: refused documents and valid ones; and a value for every place the schema describes.
        Assert.InRange(refused, 300, 2700);
        Assert.Empty(DocumentDrawer.Places(schema.RootElement).Except(drawn));
    }

    [Theory]
    [InlineData("""{"schema_version":1.0}""")]
    [InlineData("""{"schema_version":1e2}""")]
    [InlineData("""{"schema_version":-0}""")]
    [InlineData("""{"schema_version":123456789012345678901234567890}""")]
    [InlineData("""{"schema_version":1e400}""")]
    [InlineData("""{"schema_version":1e-400}""")]
    [InlineData("""{"schema_version":1.5e300}""")]
    [InlineData("""{"schema_version":1.5}""")]
    [InlineData("""{"schema_version":4.0000000000000000001}""")]
    [InlineData("""{"schema_version":1.00000000000000001}""")]
    [InlineData("""{"schema_version":1,"broker":{"idle_timeout":"١٠s","call_timeout":"10ｓ"}}""")]
    [InlineData("""{"schema_version":"1"}""")]
    [InlineData("""{}""")]
    [InlineData("""[]""")]
    [InlineData("""null""")]
    [InlineData("""{"schema_version":1,"broker":{"idle_timeout":"10s\n"}}""")]
    [InlineData("""{"schema_version":1,"broker":{"idle_timeout":"１０s"}}""")]
    [InlineData("""{"schema_version":1,"broker":{"idle_timeout":-5}}""")]
    [InlineData("""{"schema_version":1,"broker":{"idle_timeout":2.5}}""")]
    [InlineData("""{"schema_version":1,"upstreams":{"a/b~c":{"command":"x","a/b":1,"~":2}}}""")]
    [InlineData("""{"schema_version":1,"upstreams":{"u":{"command":"x","timeouts":{"tools":{"t":"5x","u":true,"v":3}}}}}""")]
    [InlineData("""{"schema_version":1,"clients":{"c":{"format":"codex-toml","config_path":"/x","codex_apps_policy":{"disable_connectors":[{"reason":""},{"reason":"👍🏽"},{"reason":"é"},{"name":1},5]}}}}""")]
    [InlineData("""{"schema_version":1,"clients":{"c":5,"d":[],"e":{"format":5}}}""")]
    [InlineData("""{"schema_version":1,"profiles":{"p":{"broker_tool_name_style":"kebab","on_over_budget":null,"upstreams":"u"}}}""")]
    [InlineData("""{"schema_version":1,"colour":"red","zeta":null,"runtime":{"root":5,"extra":1}}""")]
    public void Judge_EdgeValues_AgreesWithJsonSchemaNet(string json)
    {
        var expected = SchemaOracle.Judge(json, Duration.Pattern);
        var actual = ConfigSchemaValidator.Judge(json).SelectMany(e => new[] { e.Pointer, e.Path, e.Message }).ToArray();

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Generate_AKeywordItDoesNotKnow_RefusesAndSaysWhatToDo()
    {
        var error = Assert.Throws<InvalidOperationException>(() => SchemaValidatorGenerator.Generate("""{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}"""));

        Assert.Contains("does not know the keyword 'minimum'", error.Message, StringComparison.Ordinal);
        Assert.Contains("differential test", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A document shaped by the schema, with wrong values, unknown keys and missing ones mixed in at random.</summary>
    private sealed class DocumentDrawer(JsonElement root, Random random, HashSet<string> drawn)
    {
        /// <summary>Every place the schema describes a value: a definition's or the root's properties, and their other keys.</summary>
        public static IEnumerable<string> Places(JsonElement root) =>
            new[] { ("#", root) }.Concat(root.GetProperty("definitions").EnumerateObject().Select(d => ($"#/definitions/{d.Name}", d.Value)))
                .SelectMany(d => PlacesIn(d.Item1, d.Item2));

        private static IEnumerable<string> PlacesIn(string at, JsonElement schema)
        {
            if (schema.ValueKind != JsonValueKind.Object)
            {
                yield break;
            }

            if (schema.TryGetProperty("properties", out var properties))
            {
                foreach (var property in properties.EnumerateObject())
                {
                    yield return $"{at}/{property.Name}";
                    foreach (var inner in PlacesIn($"{at}/{property.Name}", property.Value))
                    {
                        yield return inner;
                    }
                }
            }

            if (schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.Object)
            {
                yield return $"{at}/*";
                foreach (var inner in PlacesIn($"{at}/*", additional))
                {
                    yield return inner;
                }
            }
        }

        private static readonly Func<JsonNode?>[] s_wrong =
        [
            () => 1, () => 1.5, () => JsonNode.Parse("1.0"), () => -3, () => 99999999999, () => "x", () => "", () => "10s", () => "ü ✓",
            () => true, () => false, () => null, () => new JsonArray(), () => new JsonArray(1, "a"), () => new JsonObject(), () => new JsonObject { ["k"] = 1 },
        ];

        private static readonly string[] s_durations = ["10s", "250ms", "5", "3m", "1h", "10x", "1.5s", "s", " 5s", "5S", "١٠s", "10s\n", "１h"];
        private static readonly string[] s_unknownKeys = ["colour", "a/b", "t~x", "Command", ""];

        public string Draw() => (random.Next(20) == 0 ? Wrong() : Value(root, 0, "#"))?.ToJsonString() ?? "null";

        private JsonNode? Wrong() => s_wrong[random.Next(s_wrong.Length)]();

        private JsonNode? Value(JsonElement schema, int depth, string at)
        {
            if (schema.TryGetProperty("$ref", out var reference))
            {
                return Value(Definition(reference), depth, reference.GetString()!);
            }

            if (schema.TryGetProperty("oneOf", out var oneOf))
            {
                var branches = oneOf.EnumerateArray().ToList();
                return Value(branches[random.Next(5) == 0 ? 0 : branches.Count - 1], depth, at);
            }

            if (depth > 0 && random.Next(14) == 0)
            {
                return Wrong();
            }

            var types = !schema.TryGetProperty("type", out var type) ? ["object", "string", "integer"]
                : type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList()
                : [type.GetString()!];
            return types[random.Next(types.Count)] switch
            {
                "object" => Mapping(schema, depth, at),
                "array" => new JsonArray([.. Enumerable.Range(0, random.Next(4)).Select(_ => schema.TryGetProperty("items", out var items) ? Value(items, depth + 1, $"{at}[]") : Wrong())]),
                "string" => Text(schema),
                "integer" => random.Next(6) switch { 0 => JsonNode.Parse("2.0"), 1 => -1, _ => random.Next(0, 5000) },
                "number" => 1.25,
                "boolean" => random.Next(2) == 0,
                _ => null,
            };
        }

        private JsonObject Mapping(JsonElement schema, int depth, string at)
        {
            var mapping = new JsonObject();
            var required = schema.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(e => e.GetString()!).ToHashSet() : [];
            if (schema.TryGetProperty("properties", out var properties))
            {
                foreach (var property in properties.EnumerateObject())
                {
                    if (random.Next(required.Contains(property.Name) ? 12 : 2) != 0)
                    {
                        drawn.Add($"{at}/{property.Name}");
                        mapping[property.Name] = Value(property.Value, depth + 1, $"{at}/{property.Name}");
                    }
                }
            }

            if (schema.TryGetProperty("additionalProperties", out var additional))
            {
                if (additional.ValueKind == JsonValueKind.False)
                {
                    if (random.Next(8) == 0)
                    {
                        mapping[s_unknownKeys[random.Next(s_unknownKeys.Length)]] = Wrong();
                    }
                }
                else if (depth < 8)
                {
                    for (var i = random.Next(3); i > 0; i--)
                    {
                        drawn.Add($"{at}/*");
                        mapping[$"k{i}"] = Value(additional, depth + 1, $"{at}/*");
                    }
                }
            }

            return mapping;
        }

        private JsonNode? Text(JsonElement schema)
        {
            if (schema.TryGetProperty("enum", out var allowed) && random.Next(6) != 0)
            {
                var names = allowed.EnumerateArray().ToList();
                return JsonNode.Parse(names[random.Next(names.Count)].GetRawText())!;
            }

            if (schema.TryGetProperty("pattern", out _))
            {
                // Durations right and wrong, and digits that are not ASCII (\d would take them; ECMAScript's does not).
                return s_durations[random.Next(s_durations.Length)];
            }

            return schema.TryGetProperty("minLength", out _) && random.Next(3) == 0 ? "" : random.Next(4) == 0 ? "dotted" : "/srv/x";
        }

        private JsonElement Definition(JsonElement reference) =>
            root.GetProperty("definitions").GetProperty(reference.GetString()!["#/definitions/".Length..]);
    }
}
