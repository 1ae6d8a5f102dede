using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;

namespace McpBroker.Tests.Catalog;

public sealed class SearchIndexTests
{
    private static readonly SearchIndex s_index = SearchIndex.Build(
    [
        Doc("memory.create_entities", "Create multiple new entities in the knowledge graph", ["entities"], "knowledge graph memory", ["notes", "memory"]),
        Doc("memory.add_observations", "Add new observations to existing entities in the knowledge graph", ["observations"], "knowledge graph memory", ["notes", "memory"]),
        Doc("memory.read_graph", "Read the entire knowledge graph", [], "knowledge graph memory", ["notes", "memory"]),
        Doc("memory.delete_entities", "Delete multiple entities and their associated relations", ["entityNames"], "knowledge graph memory", ["notes", "memory"]),
        Doc("fs.read_text_file", "Read the complete contents of a file from the file system as text", ["path", "head", "tail"], "read and write files", []),
        Doc("fs.list_directory", "Get a detailed listing of all files and directories in a specified path", ["path"], "read and write files", []),
        Doc("fs.write_file", "Create a new file or completely overwrite an existing file with new content", ["path", "content"], "read and write files", []),
        Doc("everything.echo", "Echoes back the input", ["message"], null, []),
        Doc("everything.get-sum", "Returns the sum of two numbers", ["a", "b"], null, []),
        Doc("gh.searchIssues", "Search issues and pull requests", ["query", "repo"], "GitHub", ["code"]),
    ]);

    [Theory]
    [InlineData("remember that Alice likes tea", "memory.create_entities", 3)]
    [InlineData("show me what is in the folder", "fs.list_directory", 3)]
    [InlineData("open the README file", "fs.read_text_file", 3)]
    [InlineData("add two numbers", "everything.get-sum", 3)]
    [InlineData("find bug tickets", "gh.searchIssues", 1)]
    [InlineData("forget the entity Bob", "memory.delete_entities", 1)]
    public void Search_TaskPhrasedQuery_FindsTheTool(string query, string expected, int within)
    {
        var hits = s_index.Search(query, within);

        Assert.Contains(expected, hits.Select(h => h.Key));
    }

    [Fact]
    public void Search_ParameterNames_AreSearched()
    {
        Assert.Equal("memory.delete_entities", s_index.Search("entityNames", 1).Single().Key);
    }

    [Fact]
    public void Search_Filter_HidesWhatACallerMayNotSee()
    {
        var hits = s_index.Search("knowledge graph", 10, key => key != "memory.read_graph");

        Assert.NotEmpty(hits);
        Assert.DoesNotContain(hits, h => h.Key == "memory.read_graph");
        Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Score >= p.Second.Score));
    }

    [Fact]
    public void Search_NoMatchingTerm_ReturnsNothing()
    {
        Assert.Empty(s_index.Search("zyxxy qwop", 5));
        Assert.Empty(s_index.Search("", 5));
    }

    [Theory]
    [InlineData("create_entities", new[] { "create", "entity" })]
    [InlineData("searchIssuesByLabel", new[] { "search", "issue", "label" })]
    [InlineData("get-file-contents", new[] { "get", "file", "content" })]
    [InlineData("HTTPServer v2", new[] { "http", "server", "v", "2" })]
    public void TextTokens_Split_HandlesSnakeCamelAndKebabCase(string text, string[] words)
    {
        Assert.Equal(words.Select(TextTokens.Stem), TextTokens.Split(text));
    }

    [Theory]
    [InlineData("created", "create")]
    [InlineData("creates", "create")]
    [InlineData("issues", "issue")]
    [InlineData("entities", "entity")]
    [InlineData("searches", "search")]
    [InlineData("listing", "list")]
    [InlineData("class", "class")]
    public void TextTokens_Stem_MakesWordFormsMeet(string form, string word)
    {
        Assert.Equal(TextTokens.Stem(word), TextTokens.Stem(form));
    }

    [Fact]
    public void Search_RequestNothingMatchesWell_ShowsAtMostThreeMatches_MarkedWeak()
    {
        var hits = s_index.Search("book a table for the entire family", 8);

        Assert.InRange(hits.Count, 1, 3);
        Assert.All(hits, h => Assert.True(h.Weak, h.Key));
        Assert.All(hits, h => Assert.Single(h.Matched));
    }

    [Fact]
    public void Search_MatchesAnsweringTwoWordsOrMore_AreNotMarkedWeak()
    {
        var hits = s_index.Search("delete the entity Bob from the knowledge graph", 8);

        Assert.Equal("memory.delete_entities", hits[0].Key);
        Assert.Equal(4, hits.Count);
        Assert.All(hits, h => Assert.False(h.Weak, h.Key));
    }

    [Fact]
    public void Search_EachMatch_SaysWhichRequestWordsItMatched_AsTheRequestWroteThem()
    {
        var hit = s_index.Search("Delete the entities named Bob", 1).Single();

        Assert.Equal("memory.delete_entities", hit.Key);
        Assert.Contains("delete", hit.Matched);
        Assert.Contains("entities", hit.Matched);
        Assert.DoesNotContain("bob", hit.Matched);
    }

    [Theory]
    [InlineData("create an issue in GitLab about the crash", "gitlab")]
    [InlineData("create an issue on github about the crash", "github")]
    [InlineData("open a Jira ticket about the crash", "jira")]
    public void Search_RequestNamingAnUpstream_ShowsThatUpstreamsToolsFirst(string query, string upstream)
    {
        var hits = s_lookalikes.Search(query, 6);

        Assert.StartsWith(upstream + ".", hits[0].Key, StringComparison.Ordinal);
        Assert.True(hits[0].Named);
        var own = hits.Select(h => h.Key.StartsWith(upstream + ".", StringComparison.Ordinal)).ToList();
        Assert.True(own.SkipWhile(o => o).All(o => !o), string.Join(", ", hits.Select(h => h.Key)));
    }

    [Theory]
    [InlineData("list my todos with the gitlab tools", "gitlab-zereight.list_todos")]
    [InlineData("search for files with desktop commander", "desktop-commander.start_search")]
    public void Search_UpstreamNamedByAPartOfItsName_OrItsNameInTwoWords_IsNamed(string query, string expected)
    {
        var hits = s_lookalikes.Search(query, 3);

        Assert.Equal(expected, hits[0].Key);
        Assert.True(hits[0].Named);
    }

    [Fact]
    public void Search_WordNamingAnUpstreamInPassing_DoesNotBuryTheToolAskedFor()
    {
        var hits = s_lookalikes.Search("take a heap snapshot to see what is using memory in the page", 3);

        Assert.Equal("devtools.take_heapsnapshot", hits[0].Key);
    }

    private static readonly SearchIndex s_lookalikes = SearchIndex.Build(
    [
        Doc("github.create_issue", "Create a new issue in a GitHub repository about a bug or crash", ["owner", "repo", "title", "body"], "GitHub repositories, issues, pull requests", []),
        Doc("github.list_issues", "List issues in a GitHub repository", ["owner", "repo"], "GitHub repositories, issues, pull requests", []),
        Doc("gitlab.create_issue", "Create issue", ["project_id", "title"], "GitLab projects and issues", []),
        Doc("gitlab.get_project", "Get a project", ["project_id"], "GitLab projects and issues", []),
        Doc("gitlab-zereight.list_todos", "List the current user's to-do items", [], "GitLab projects, merge requests and pipelines", []),
        Doc("jira.jira_post", "Create Jira resources such as issues and comments", ["path", "body"], "Jira issues and projects", []),
        Doc("desktop-commander.start_search", "Start a streaming search for files or content", ["path", "pattern"], "terminal commands and file editing", []),
        Doc("desktop-commander.read_file", "Read contents from files", ["path"], "terminal commands and file editing", []),
        Doc("filesystem.search_files", "Recursively search for files and directories matching a pattern", ["path", "pattern"], "local files and folders", []),
        Doc("devtools.take_heapsnapshot", "Capture a heap snapshot of the page to analyze memory use", ["filePath"], "Chrome DevTools", []),
        Doc("memory.read_graph", "Read the entire knowledge graph", [], "knowledge graph memory", []),
        Doc("memory.search_nodes", "Search for nodes in the knowledge graph", ["query"], "knowledge graph memory", []),
    ]);

    private static SearchDocument Doc(string key, string description, string[] parameters, string? purpose, string[] tags) =>
        new(key, key[(key.IndexOf('.') + 1)..], description, parameters, purpose, tags);
}
