using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Tests.Unit;

/// <summary>
/// How the config's YAML becomes the JSON tree the schema checks: YAML 1.2 core-schema scalars, keys as the config
/// has always read them, source positions for messages, and a clear error for text that is not one YAML document.
/// </summary>
public sealed class YamlDocumentTests
{
    private static JsonNode? Value(string scalar)
    {
        var issues = new List<ConfigIssue>();
        var document = YamlDocument.Parse($"a: {scalar}\n", issues);
        Assert.Empty(issues);
        return document.Root!["a"];
    }

    [Theory]
    [InlineData("~")]
    [InlineData("null")]
    [InlineData("Null")]
    [InlineData("NULL")]
    [InlineData("")]
    public void PlainNulls_AreNull(string scalar) => Assert.Null(Value(scalar));

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("TRUE", true)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    [InlineData("FALSE", false)]
    public void PlainBooleans_AreBooleans(string scalar, bool expected) => Assert.Equal(expected, Value(scalar)!.GetValue<bool>());

    [Theory]
    [InlineData("'true'", "true")]
    [InlineData("\"null\"", "null")]
    [InlineData("yes", "yes")]
    [InlineData("tRUE", "tRUE")]
    [InlineData("nUll", "nUll")]
    [InlineData("'~'", "~")]
    public void QuotedScalarsAndOtherWords_AreStrings(string scalar, string expected) => Assert.Equal(expected, Value(scalar)!.GetValue<string>());

    [Fact]
    public void Keys_AreReadAsTheConfigAlwaysReadThem()
    {
        var document = YamlDocument.Parse("true: 1\nfalse: 2\n~: 3\n7: 4\n", []);

        Assert.Equal(["True", "False", "", "7"], document.Root!.AsObject().Select(p => p.Key));
    }

    [Fact]
    public void Describe_GivesTheLineAndColumnOfEachPath()
    {
        var document = YamlDocument.Parse("upstreams:\n  m:\n    args: [a, b]\n", []);

        Assert.Equal("line 3, column 5", document.Describe("upstreams.m.args")); // an entry is where its key is
        Assert.Equal("line 3, column 15", document.Describe("upstreams.m.args[1]"));
        Assert.Equal("", document.Describe("upstreams.nothing"));
    }

    [Theory]
    [InlineData("", "the file is empty; start with 'schema_version: 1' (mcp-broker config init writes a starter)")]
    [InlineData("a: [1, 2\n", "not valid YAML at line ")]
    public void TextThatIsNotAYamlDocument_IsOneErrorAndNotReadable(string text, string message)
    {
        var issues = new List<ConfigIssue>();

        var document = YamlDocument.Parse(text, issues);

        Assert.False(document.Readable);
        var error = Assert.Single(issues);
        Assert.Equal("", error.Path);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoDocuments_AreAnErrorSayingToKeepOne()
    {
        var issues = new List<ConfigIssue>();

        YamlDocument.Parse("a: 1\n---\nb: 2\n", issues);

        Assert.Equal("the file holds more than one YAML document; keep one", Assert.Single(issues).Message);
    }
}
