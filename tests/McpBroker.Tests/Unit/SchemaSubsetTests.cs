using System.Text.Json;
using McpBroker.Config;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Unit;

/// <summary>
/// The fast route of config validation (<see cref="SchemaSubset"/>) must judge every document as NJsonSchema does,
/// and the JSON it hands to the records must be the text Json.NET wrote; otherwise a config could pass that the
/// detailed route refuses, or read differently.
/// </summary>
public sealed class SchemaSubsetTests
{
    private const int Seed = 20261204;
    private const int Documents = 5_000;

    [Fact]
    public void TryCompile_CommittedSchema_UsesOnlyKeywordsOfTheSubset()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Root, "config", "broker.schema.json")));
        var unsupported = new List<string>();

        Assert.NotNull(SchemaSubset.TryCompile(schema.RootElement, unsupported));
        Assert.Empty(unsupported);
        Assert.NotNull(SchemaSubset.Embedded);
    }

    [Fact]
    public void TryCompile_KeywordOutsideTheSubset_IsNotCompiled()
    {
        using var schema = JsonDocument.Parse("""{ "type": "object", "properties": { "n": { "type": "integer", "maximum": 3 } } }""");
        var unsupported = new List<string>();

        Assert.Null(SchemaSubset.TryCompile(schema.RootElement, unsupported));
        Assert.Equal(["#/properties/n/maximum"], unsupported);
    }

    [Fact]
    public void Accepts_GeneratedConfigs_GivesNJsonSchemasVerdict()
    {
        var (accepted, refused) = (0, 0);
        foreach (var (yaml, root) in Generated())
        {
            var expected = ConfigSchema.Schema.Validate(ConfigSchema.ToToken(root)).Count == 0;

            Assert.True(expected == SchemaSubset.Embedded!.Accepts(root), $"NJsonSchema {(expected ? "accepts" : "refuses")}, the fast route does not:\n{yaml}");
            _ = expected ? accepted++ : refused++;
        }

        // Both verdicts are well represented, or the comparison proves little.
        Assert.InRange(accepted, Documents / 5, Documents);
        Assert.InRange(refused, Documents / 5, Documents);
    }

    [Fact]
    public void Write_GeneratedConfigs_IsTheTextJsonNetWrote()
    {
        foreach (var (yaml, root) in Generated())
        {
            Assert.True(ConfigSchema.ToToken(root).ToString(Newtonsoft.Json.Formatting.None) == CompactJson.Write(root), yaml);
        }
    }

    [Theory]
    [InlineData("schema_version: 1\nbroker: { idle_timeout: 30s }", true)]
    [InlineData("schema_version: 1\nbroker: { idle_timeout: \"30s\\n\" }", true)] // .NET's $ matches before a final newline
    [InlineData("schema_version: 1\nbroker: { idle_timeout: 30 s }", false)]
    [InlineData("schema_version: 1.0", false)]
    [InlineData("schema_version: \"1\"", false)]
    [InlineData("schema_version: 1\nupstreams: { a: null, b: { mutating: \"True\" } }", true)] // enum values compare as .NET strings
    [InlineData("schema_version: 1\nupstreams: { b: { mutating: \"true\" } }", false)]
    [InlineData("schema_version: 1\nupstreams: { b: { mode: Shared } }", false)]
    [InlineData("schema_version: 1\nclients: { c: { format: vscode } }", true)]
    [InlineData("schema_version: 1\nclients: { c: { format: null } }", false)] // required and not nullable
    [InlineData("schema_version: 1\nclients: { c: { path: x } }", false)]
    [InlineData("schema_version: 1\nupstreams: { b: { tools: { t: { defaults: { n: 1.5, s: [x, { y: null }] } } } } }", true)]
    [InlineData("schema_version: 1\nprofiles: [a]", false)]
    [InlineData("schema_version: 1\ncolour: blue", false)]
    [InlineData("[schema_version]", false)]
    [InlineData("~", false)]
    public void Accepts_EdgeCases_AgreesWithNJsonSchema(string yaml, bool valid)
    {
        var document = YamlDocument.Parse(yaml, []);

        Assert.Equal(valid, ConfigSchema.Schema.Validate(ConfigSchema.ToToken(document.Root)).Count == 0);
        Assert.Equal(valid, SchemaSubset.Embedded!.Accepts(document.Root));
    }

    [Theory]
    [InlineData("""{ "type": "string", "format": "date-time" }""")]
    [InlineData("""{ "type": "string", "format": "date" }""")]
    [InlineData("""{ "type": "string", "format": "time" }""")]
    [InlineData("""{ "type": "string", "format": "time-span" }""")]
    [InlineData("""{ "type": "string", "format": "duration" }""")]
    [InlineData("""{ "type": "string", "format": "email" }""")]
    [InlineData("""{ "type": "string", "format": "guid" }""")]
    [InlineData("""{ "type": "string", "format": "uuid" }""")]
    [InlineData("""{ "type": "string", "format": "hostname" }""")]
    [InlineData("""{ "type": "string", "format": "ipv4" }""")]
    [InlineData("""{ "type": "string", "format": "ipv6" }""")]
    [InlineData("""{ "type": "string", "format": "uri" }""")]
    [InlineData("""{ "type": "string", "format": "byte" }""")]
    [InlineData("""{ "type": "string", "format": "base64" }""")]
    public void TryCompile_AFormatNJsonSchemaChecks_IsOutsideTheSubset(string schema)
    {
        Assert.Equal(["#/format"], Unsupported(schema));
    }

    [Theory]
    [InlineData("""{ "type": "integer", "format": "int32" }""")]
    [InlineData("""{ "$schema": "x", "title": "x", "description": "x", "default": 1, "examples": [1], "$comment": "x", "type": "string" }""")]
    [InlineData("""{ "definitions": { "a": { "type": "string" } }, "properties": { "p": { "$ref": "#/definitions/a", "description": "annotations may sit beside a $ref" } } }""")]
    public void TryCompile_AnnotationsAndUncheckedFormats_AreInsideTheSubset(string schema)
    {
        Assert.Empty(Unsupported(schema));
    }

    [Theory]
    [InlineData("""{ "definitions": { "a": { "$ref": "#/definitions/b" }, "b": { "$ref": "#/definitions/a" } } }""", "#/definitions/a: a $ref cycle|#/definitions/b: a $ref cycle")]
    [InlineData("""{ "properties": { "a": true } }""", "#/properties/a: a schema that is not an object")]
    [InlineData("""{ "$ref": "#/definitions/nope" }""", "#/$ref: '#/definitions/nope' is not one of this schema's definitions")]
    [InlineData("""{ "enum": ["a", 1] }""", "#/enum: the value 1")]
    [InlineData("""{ "enum": ["{x"] }""", "#/enum: the value \"{x\"")]
    [InlineData("""{ "enum": ["[x"] }""", "#/enum: the value \"[x\"")]
    [InlineData("""{ "definitions": { "a": { "type": "string" } }, "properties": { "p": { "$ref": "#/definitions/a", "minLength": 1 } } }""", "#/properties/p: $ref beside other keywords")]
    [InlineData("""{ "properties": { "p": { "definitions": {} } } }""", "#/properties/p/definitions")]
    [InlineData("""{ "type": "decimal" }""", "#/type: type \"decimal\"")]
    [InlineData("""{ "type": ["string", "decimal"] }""", "#/type: type \"decimal\"")]
    public void TryCompile_WhatTheSubsetCannotJudge_IsNamedAtItsPlace(string schema, string expected)
    {
        Assert.Equal(expected.Split('|'), Unsupported(schema));
    }

    [Theory]
    [InlineData("""{ "type": ["string", "null"] }""", "null", true)]
    [InlineData("""{ "type": ["string", "null"] }""", "\"x\"", true)]
    [InlineData("""{ "type": ["string", "null"] }""", "1", false)]
    [InlineData("""{ "type": "number" }""", "1.5", true)]
    [InlineData("""{ "type": "number" }""", "2", true)]
    [InlineData("""{ "type": "integer" }""", "1.5", false)]
    [InlineData("""{ "type": "object", "properties": { "a": { "type": "string" } } }""", "null", false)]
    [InlineData("""{ "type": ["object", "null"], "required": ["a"] }""", "null", true)]
    [InlineData("""{ "type": "object", "required": ["a"] }""", "{}", false)]
    [InlineData("""{ "type": "object", "required": ["a"] }""", "{ \"a\": 1 }", true)]
    [InlineData("""{ "properties": { "a": {} }, "required": ["a"] }""", "{}", false)]
    [InlineData("""{ "properties": { "a": {} } }""", "{ \"b\": 1 }", true)]
    [InlineData("""{ "properties": { "a": {} }, "additionalProperties": false }""", "{ \"b\": 1 }", false)]
    [InlineData("""{ "additionalProperties": { "type": "integer" } }""", "{ \"b\": \"x\" }", false)]
    [InlineData("""{ "enum": [true, "auto"] }""", "true", true)]
    [InlineData("""{ "enum": [true, "auto"] }""", "false", false)]
    [InlineData("""{ "enum": [false] }""", "false", true)]
    [InlineData("""{ "enum": [false] }""", "true", false)]
    [InlineData("""{ "properties": { "a": { "pattern": "^x$" }, "b": { "pattern": "^x$" } } }""", "{ \"a\": \"x\", \"b\": \"y\" }", false)]
    [InlineData("""{ "properties": { "a": { "oneOf": [{ "type": "null" }, { "type": "string" }] } } }""", "{ \"a\": null }", true)]
    [InlineData("""{ "properties": { "a": { "oneOf": [{ "type": "integer" }, { "type": "string" }] } } }""", "{ \"a\": null }", false)]
    [InlineData("""{ "definitions": { "n": { "type": ["string", "null"] } }, "properties": { "a": { "$ref": "#/definitions/n" } } }""", "{ \"a\": null }", true)]
    [InlineData("""{ "items": { "type": "integer" } }""", "[1, \"x\"]", false)]
    [InlineData("""{ "minLength": 2 }""", "\"x\"", false)]
    public async Task Accepts_SmallSchemas_AgreesWithNJsonSchema(string schema, string document, bool valid)
    {
        using var compiled = JsonDocument.Parse(schema);
        var subset = SchemaSubset.TryCompile(compiled.RootElement, []);
        var reference = await NJsonSchema.JsonSchema.FromJsonAsync(schema);

        Assert.Equal(valid, reference.Validate(Newtonsoft.Json.Linq.JToken.Parse(document)).Count == 0);
        Assert.Equal(valid, subset!.Accepts(System.Text.Json.Nodes.JsonNode.Parse(document)));
    }

    private static List<string> Unsupported(string schema)
    {
        using var document = JsonDocument.Parse(schema);
        var unsupported = new List<string>();
        var compiled = SchemaSubset.TryCompile(document.RootElement, unsupported);
        Assert.Equal(unsupported.Count == 0, compiled is not null);
        return unsupported;
    }

    private static IEnumerable<(string Yaml, System.Text.Json.Nodes.JsonNode? Root)> Generated()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repo.Root, "config", "broker.schema.json")));
        var generator = new ConfigGenerator(schema.RootElement.Clone(), Seed);
        for (var i = 0; i < Documents; i++)
        {
            var yaml = generator.Next();
            var document = YamlDocument.Parse(yaml, []);
            Assert.True(document.Readable, yaml);
            yield return (yaml, document.Root);
        }
    }
}
