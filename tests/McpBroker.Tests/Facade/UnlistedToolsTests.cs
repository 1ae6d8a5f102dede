using McpBroker.Facade;

namespace McpBroker.Tests.Facade;

/// <summary>The unlisted broker tools (resources, prompts) are found by the words that ask for them, and only by those.</summary>
public sealed class UnlistedToolsTests
{
    [Theory]
    [InlineData("read a resource document", "read_resource")]
    [InlineData("list the resources", "list_resources")]
    [InlineData("get a prompt template", "get_prompt")]
    [InlineData("which prompts are there, list them", "list_prompts")]
    public void UnlistedBrokerTools_AreFoundByTheWordsThatAskForThem(string query, string best)
    {
        Assert.Equal(best, FacadeTools.UnlistedMatching(query).First());
    }

    [Theory]
    [InlineData("read a file")]
    [InlineData("create a github issue")]
    public void UnlistedBrokerTools_StayOutOfOtherSearches(string query)
    {
        Assert.Empty(FacadeTools.UnlistedMatching(query));
    }
}
