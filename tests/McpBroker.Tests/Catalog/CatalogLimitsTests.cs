using System.Text.Json;
using McpBroker.Catalog;
using McpBroker.Config;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Catalog;

/// <summary>What the catalog keeps of an upstream's list: max_tools, max_tool_bytes, and the warnings status shows.</summary>
public sealed class CatalogLimitsTests
{
    private static readonly JsonElement s_schema = JsonElement.Parse("""{"type":"object","properties":{}}""");

    private static string? Env(string name) => name == "HOME" ? "/home/u" : null;

    private static UpstreamModel Upstream(string settings = "") =>
        ConfigLoader.Load($"schema_version: 1\nupstreams:\n  big: {{ command: x{settings} }}\n", "/etc/broker.yaml", Env).Model!.FindUpstream("big")!;

    private static Tool Tool(string name, string description = "a tool", JsonElement? schema = null) =>
        new() { Name = name, Description = description, InputSchema = schema ?? s_schema };

    [Fact]
    public void Apply_WithinTheDefaults_KeepsEverythingAsItIs_AndWarnsOfNothing()
    {
        var listed = Enumerable.Range(0, 1000).Select(i => Tool($"t{i}")).ToList();

        var (kept, warnings) = CatalogLimits.Apply(Upstream(), listed);

        Assert.Equal(listed, kept);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Apply_MoreThanMaxTools_KeepsTheFirst_AndSaysWhichKeyRaisesIt()
    {
        var (kept, warnings) = CatalogLimits.Apply(Upstream(", max_tools: 3"), [.. Enumerable.Range(0, 5).Select(i => Tool($"t{i}"))]);

        Assert.Equal(["t0", "t1", "t2"], kept.Select(t => t.Name));
        Assert.Equal("listed more than 3 tools (5 seen): only the first 3 are kept; raise upstreams.big.max_tools to keep more", Assert.Single(warnings));
    }

    [Theory]
    [InlineData('x')]
    [InlineData('é')] // two bytes in UTF-8
    [InlineData('"')] // escaped in JSON
    public void Apply_AnOversizedDescription_IsCutToFitWithAMark_AndTheToolKept(char filler)
    {
        var huge = Tool("huge", new string(filler, 3_000_000));

        var (kept, warnings) = CatalogLimits.Apply(Upstream(), [Tool("small"), huge]);

        Assert.Equal(["small", "huge"], kept.Select(t => t.Name));
        var cut = kept[1];
        Assert.EndsWith(CatalogLimits.Mark, cut.Description, StringComparison.Ordinal);
        Assert.InRange(CatalogLimits.Size(cut), CatalogLimits.DefaultMaxToolBytes - 64, CatalogLimits.DefaultMaxToolBytes);
        var warning = Assert.Single(warnings);
        Assert.Contains("tool 'huge' has a definition of", warning, StringComparison.Ordinal);
        Assert.Contains("over upstreams.big.max_tool_bytes (262144): its description", warning, StringComparison.Ordinal);
        Assert.Contains("is truncated to fit", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_ADefinitionTooBigEvenWithoutItsDescription_IsLeftOut()
    {
        var properties = string.Join(",", Enumerable.Range(0, 200).Select(i => $"\"p{i}\":{{\"type\":\"string\",\"description\":\"{new string('d', 20)}\"}}"));
        var big = Tool("wide", "short", JsonElement.Parse("{\"type\":\"object\",\"properties\":{" + properties + "}}"));

        var (kept, warnings) = CatalogLimits.Apply(Upstream(", max_tool_bytes: 2048"), [big, Tool("ok")]);

        Assert.Equal(["ok"], kept.Select(t => t.Name));
        Assert.EndsWith("over upstreams.big.max_tool_bytes (2048) even without its description: it is left out", Assert.Single(warnings), StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_ManyOversizedTools_ListsTenWarnings_AndCountsTheRest()
    {
        var (kept, warnings) = CatalogLimits.Apply(Upstream(", max_tool_bytes: 1024"), [.. Enumerable.Range(0, 25).Select(i => Tool($"t{i}", new string('x', 5000)))]);

        Assert.Equal(25, kept.Count);
        Assert.Equal(11, warnings.Count);
        Assert.Equal("… and 15 more tool(s) cut or left out the same way", warnings[^1]);
    }

    [Fact]
    public void ContextTokens_AMegabyteWord_IsCountedInPieces_WhileOrdinaryTextStaysExact()
    {
        // Byte-pair encoding is quadratic in one word's length: whole, this word would take hours (64 KB took 6 s).
        Assert.Equal(125_000, McpBroker.Measure.ContextCost.Tokens(new string('x', 1_000_000)));

        // Words up to 250 characters long (a URL, a base64 blob): counted whole, as js-tiktoken counts them.
        var ordinary = string.Join(" ", Enumerable.Range(0, 2000).Select(i => $"word{i} {new string('y', i % 250)},"));
        var exact = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("o200k_base").CountTokens(ordinary);
        Assert.Equal(exact, McpBroker.Measure.ContextCost.Tokens(ordinary));
    }

    [Fact]
    public void ConfigShow_ShowsTheLimitsOnlyWhereTheyDifferFromTheDefaults()
    {
        var model = ConfigLoader.Load("schema_version: 1\nupstreams:\n  big: { command: x, max_tools: 50, max_tool_bytes: 4096 }\n  plain: { command: y }\n",
            "/etc/broker.yaml", Env).Model!;

        var shown = ConfigShow.Render(model, Env);

        Assert.Contains("max_tools: 50", shown, StringComparison.Ordinal);
        Assert.Contains("max_tool_bytes: 4096", shown, StringComparison.Ordinal);
        Assert.Single(shown.Split('\n'), l => l.Contains("max_tool_bytes:", StringComparison.Ordinal));
        Assert.DoesNotContain("max_tools: 1000", shown, StringComparison.Ordinal); // plain keeps the default: not shown
    }

    [Theory]
    [InlineData("max_tools: 0", "upstreams.big.max_tools: must be at least 1 (the default is 1000)")]
    [InlineData("max_tool_bytes: 100", "upstreams.big.max_tool_bytes: must be at least 1024 (the default is 262144)")]
    public void Validate_LimitsTooSmall_AreErrorsThatSayTheFloorAndDefault(string setting, string error)
    {
        var result = ConfigLoader.Load($"schema_version: 1\nupstreams:\n  big: {{ command: x, {setting} }}\n", "/etc/broker.yaml", Env);

        Assert.False(result.IsValid);
        Assert.Contains(result.Issues, i => i.ToString().Contains(error, StringComparison.Ordinal));
    }
}
