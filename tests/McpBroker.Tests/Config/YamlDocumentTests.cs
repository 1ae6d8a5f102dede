using System.Text.Json.Nodes;
using McpBroker.Config;

namespace McpBroker.Tests.Config;

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

    /// <summary>Nested aliases: <paramref name="levels"/> levels of <paramref name="fanOut"/> aliases each (fanOut^levels values).</summary>
    private static string AliasBomb(int levels, int fanOut)
    {
        var text = new System.Text.StringBuilder("l0: &l0 [x, x, x, x, x, x, x, x, x]\n");
        for (var level = 1; level <= levels; level++)
        {
            text.Append($"l{level}: &l{level} [{string.Join(", ", Enumerable.Repeat($"*l{level - 1}", fanOut))}]\n");
        }

        return text.ToString();
    }

    [Fact]
    public void AliasBomb_IsRefusedAtTheLimit_WithoutExpanding()
    {
        var bomb = AliasBomb(levels: 8, fanOut: 9);
        Assert.True(bomb.Length < 600, $"the bomb is {bomb.Length} bytes");
        var issues = new List<ConfigIssue>();

        var document = YamlDocument.Parse(bomb, issues);

        Assert.False(document.Readable);
        var issue = Assert.Single(issues);
        Assert.Contains($"expands to more than {YamlDocument.MaxNodes:N0} values at alias *l", issue.Message);
        Assert.Contains("write values out instead of nesting aliases", issue.Message);
    }

    [Fact]
    public void Aliases_BelowTheLimit_AreExpandedAsBefore()
    {
        var issues = new List<ConfigIssue>();
        var document = YamlDocument.Parse(AliasBomb(levels: 3, fanOut: 9), issues);

        Assert.Empty(issues);
        Assert.Equal(9 * 9 * 9 * 9, document.Root!["l3"]!.AsArray().SelectMany(a => a!.AsArray()).SelectMany(a => a!.AsArray()).SelectMany(a => a!.AsArray()).Count());
    }

    [Theory]
    [InlineData(YamlDocument.MaxDepth, true)]
    [InlineData(YamlDocument.MaxDepth + 1, false)]
    [InlineData(100_000, false)]
    public void Nesting_PastTheDepthLimit_IsRefusedNotOverflowed(int depth, bool readable)
    {
        var issues = new List<ConfigIssue>();
        var document = YamlDocument.Parse("a: " + new string('[', depth) + new string(']', depth) + "\n", issues);

        Assert.Equal(readable, document.Readable);
        Assert.Equal(readable, issues.Count == 0);
        if (!readable)
        {
            Assert.Contains($"nests deeper than {YamlDocument.MaxDepth} levels", issues.Single().Message);
        }
    }

    [Fact]
    public void LoadFile_OfAFileOverTheSizeLimit_IsRefusedUnread()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("mb-yaml-").FullName, "broker.yaml");
        File.WriteAllText(path, "schema_version: 1\n# " + new string('x', (int)ConfigLoader.MaxFileBytes) + "\n");

        var result = ConfigLoader.LoadFile(path);

        Assert.False(result.IsValid);
        Assert.Contains("a broker config is a few KB and at most 1 MiB is read", Assert.Single(result.Errors).Message);
    }
}
