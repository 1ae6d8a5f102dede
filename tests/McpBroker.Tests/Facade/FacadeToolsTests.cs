using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Facade;
using McpBroker.Tests.Support;
using ModelContextProtocol;

namespace McpBroker.Tests.Facade;

/// <summary>
/// The broker tools' definitions are what every compact session loads up front, and the words a search uses to find
/// the unlisted ones (resources, prompts) decide whether a model ever reaches them: both are contract, checked here.
/// </summary>
public sealed class FacadeToolsTests
{
    [Fact]
    public void Definitions_InBothNameStyles_AreTheGoldenOnes()
    {
        var all = new JsonObject();
        foreach (var style in new[] { ToolNameStyle.Dotted, ToolNameStyle.Snake })
        {
            all[style.ToString()] = new JsonObject
            {
                ["instructions"] = FacadeTools.Instructions(style),
                ["listed"] = JsonSerializer.SerializeToNode(FacadeTools.Definitions(style), McpJsonUtilities.DefaultOptions),
                ["unlisted"] = JsonSerializer.SerializeToNode(FacadeTools.UnlistedDefinitions(style), McpJsonUtilities.DefaultOptions),
            };
        }

        Golden.AssertMatches("facade-tools.json", all.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
    }

    [Fact]
    public void Definitions_TheFourListedTools_AskToBeAlwaysLoaded_TheUnlistedDoNot()
    {
        Assert.All(FacadeTools.Definitions(ToolNameStyle.Snake), t => Assert.True((bool)t.Meta![FacadeTools.AlwaysLoadMeta]!));
        Assert.All(FacadeTools.UnlistedDefinitions(ToolNameStyle.Snake), t => Assert.Null(t.Meta));
    }

    [Fact]
    public void SearchDescription_NamesEachServer_ByPurpose_ElseTags_ElseToolNames_WithItsToolCount()
    {
        var description = FacadeTools.SearchDescription(ToolNameStyle.Dotted,
        [
            new("github", "GitHub repositories, issues and pull requests.", ["code"], 26, ["create_issue"]),
            new("k8s", null, ["cloud", "kubernetes"], 1, ["kubectl_get"]),
            new("memory", null, [], 9, ["create_entities", "read_graph", "search_nodes", "open_nodes"]),
            new("slack", "Slack channels and messages", [], null),
            new("bare", null, [], null),
        ]);

        Assert.StartsWith("Find tools of the MCP servers behind this broker: github (GitHub repositories, issues and pull requests, 26 tools); "
            + "k8s (cloud, kubernetes, 1 tool); memory (create_entities, read_graph, search_nodes, …, 9 tools); slack (Slack channels and messages); bare. Start here:", description, StringComparison.Ordinal);
        Assert.Contains("broker.describe_tool", description, StringComparison.Ordinal);
        Assert.Contains("broker.call_tool", description, StringComparison.Ordinal);
    }

    [Fact]
    public void SearchDescription_NamesSixteenServers_CutsLongPurposes_AndCountsTheRest()
    {
        var servers = Enumerable.Range(1, 20).Select(i => new FacadeServer($"s{i}", $"server number {i} " + string.Join(' ', Enumerable.Repeat("with a purpose far too long to repeat", 5)), [])).ToList();

        var description = FacadeTools.SearchDescription(ToolNameStyle.Dotted, servers);

        Assert.Contains("s16 (server number 16 with", description, StringComparison.Ordinal);
        Assert.DoesNotContain("s17", description, StringComparison.Ordinal);
        Assert.Contains("; and 4 more.", description, StringComparison.Ordinal);
        Assert.All(description.Split("; ").Skip(1).SkipLast(1), part => Assert.True(part.Length < 100, part));
    }

    [Fact]
    public void Definitions_OnlyCallToolMayChangeThings()
    {
        var tools = FacadeTools.Definitions(ToolNameStyle.Dotted).Concat(FacadeTools.UnlistedDefinitions(ToolNameStyle.Dotted));

        Assert.All(tools, t => Assert.Equal(t.Name != "broker.call_tool", t.Annotations!.ReadOnlyHint));
        Assert.All(tools, t => Assert.Equal(t.Name == "broker.call_tool", t.Annotations!.OpenWorldHint));
    }

    public static TheoryData<string, string> UnlistedWords() => new()
    {
        // Each tool by each of its words, beside a word that asks for resources or prompts but is not the tool's own.
        { FacadeTools.ListResources, "resource" }, { FacadeTools.ListResources, "resources" }, { FacadeTools.ListResources, "file" },
        { FacadeTools.ListResources, "files" }, { FacadeTools.ListResources, "document" }, { FacadeTools.ListResources, "documents" },
        { FacadeTools.ListResources, "uri" }, { FacadeTools.ListResources, "list" }, { FacadeTools.ListResources, "browse" },
        { FacadeTools.ListResources, "template" }, { FacadeTools.ListResources, "templates" },
        { FacadeTools.ReadResource, "resource" }, { FacadeTools.ReadResource, "resources" }, { FacadeTools.ReadResource, "file" },
        { FacadeTools.ReadResource, "files" }, { FacadeTools.ReadResource, "document" }, { FacadeTools.ReadResource, "documents" },
        { FacadeTools.ReadResource, "uri" }, { FacadeTools.ReadResource, "read" }, { FacadeTools.ReadResource, "open" },
        { FacadeTools.ReadResource, "content" }, { FacadeTools.ReadResource, "contents" },
        { FacadeTools.ListPrompts, "prompt" }, { FacadeTools.ListPrompts, "prompts" }, { FacadeTools.ListPrompts, "template" },
        { FacadeTools.ListPrompts, "templates" }, { FacadeTools.ListPrompts, "list" },
        { FacadeTools.GetPrompt, "prompt" }, { FacadeTools.GetPrompt, "prompts" }, { FacadeTools.GetPrompt, "template" },
        { FacadeTools.GetPrompt, "templates" }, { FacadeTools.GetPrompt, "get" }, { FacadeTools.GetPrompt, "use" },
    };

    [Theory]
    [MemberData(nameof(UnlistedWords))]
    public void UnlistedMatching_FindsEachUnlistedToolByEachOfItsWords(string tool, string word)
    {
        var other = tool is FacadeTools.ListPrompts or FacadeTools.GetPrompt ? "resource" : "prompt";

        Assert.Contains(tool, FacadeTools.UnlistedMatching($"{other} {word}"));
    }

    [Theory]
    [InlineData("resource", new[] { FacadeTools.ListResources, FacadeTools.ReadResource })]
    [InlineData("Resources", new[] { FacadeTools.ListResources, FacadeTools.ReadResource })]
    [InlineData("document", new[] { FacadeTools.ListResources, FacadeTools.ReadResource })]
    [InlineData("documents", new[] { FacadeTools.ListResources, FacadeTools.ReadResource })]
    [InlineData("the uri", new[] { FacadeTools.ListResources, FacadeTools.ReadResource })]
    [InlineData("prompt", new[] { FacadeTools.ListPrompts, FacadeTools.GetPrompt })]
    [InlineData("prompts", new[] { FacadeTools.ListPrompts, FacadeTools.GetPrompt })]
    [InlineData("read the resource contents", new[] { FacadeTools.ReadResource, FacadeTools.ListResources })]
    [InlineData("browse resource templates", new[] { FacadeTools.ListResources, FacadeTools.ReadResource, FacadeTools.ListPrompts, FacadeTools.GetPrompt })]
    [InlineData("use a prompt", new[] { FacadeTools.GetPrompt, FacadeTools.ListPrompts })]
    [InlineData("list files in my project", new string[0])]
    [InlineData("read a file", new string[0])]
    public void UnlistedMatching_OnlyWhenAskedForResourcesOrPrompts_BestFirst(string query, string[] expected)
    {
        Assert.Equal(expected, FacadeTools.UnlistedMatching(query));
    }

    [Theory]
    [InlineData("broker.search_tools", FacadeTools.Search)]
    [InlineData("broker_call_tool", FacadeTools.Call)]
    [InlineData("broker.read_resource", FacadeTools.ReadResource)]
    [InlineData("broker_get_prompt", FacadeTools.GetPrompt)]
    [InlineData("broker.nothing", null)]
    [InlineData("broker.", null)]
    [InlineData("memory.search_tools", null)]
    [InlineData("search_tools", null)]
    public void Match_NamesTheBrokerToolInEitherStyle_AndNothingElse(string name, string? expected)
    {
        Assert.Equal(expected, FacadeTools.Match(name));
    }
}
