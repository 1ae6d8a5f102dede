using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;

namespace McpBroker.Tests.Exposure;

public sealed class ToolNamesTests
{
    [Fact]
    public void Expose_Dotted_IsTheCanonicalName()
    {
        var names = ToolNames.Expose([("memory", "create_entities"), ("gh", "list.issues")], ToolNameStyle.Dotted);

        Assert.Equal("memory.create_entities", names["memory.create_entities"]);
        Assert.Equal("gh.list.issues", names["gh.list.issues"]);
    }

    [Fact]
    public void Expose_Snake_UsesDoubleUnderscoreAndOnlySafeCharacters()
    {
        var names = ToolNames.Expose([("memory", "create_entities"), ("web", "fetch url/v2")], ToolNameStyle.Snake);

        Assert.Equal("memory__create_entities", names["memory.create_entities"]);
        Assert.Equal("web__fetch_url_v2", names["web.fetch url/v2"]);
        Assert.Equal("broker_search_tools", ToolNames.BrokerTool("search_tools", ToolNameStyle.Snake));
        Assert.Equal("broker.search_tools", ToolNames.BrokerTool("search_tools", ToolNameStyle.Dotted));
    }

    [Fact]
    public void Expose_SnakeOverLongName_IsShortenedDeterministicallyWithAHash()
    {
        var tool = new string('x', 80);

        var first = ToolNames.Expose([("up", tool)], ToolNameStyle.Snake)[$"up.{tool}"];
        var second = ToolNames.Expose([("other", "t"), ("up", tool)], ToolNameStyle.Snake)[$"up.{tool}"];

        Assert.Equal(ToolNames.MaxSnakeLength, first.Length);
        Assert.Matches("^up__x+_[0-9a-f]{8}$", first);
        Assert.Equal(first, second);
    }

    [Fact]
    public void Expose_SnakeCollisionAfterSanitising_GivesEachToolItsOwnName()
    {
        var names = ToolNames.Expose([("a", "b.c"), ("a", "b_c"), ("a", "b c")], ToolNameStyle.Snake);

        Assert.Equal(3, names.Values.Distinct().Count());
        Assert.All(names.Values, n => Assert.Matches("^a__b_c_[0-9a-f]{8}$", n));
    }
}
