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
