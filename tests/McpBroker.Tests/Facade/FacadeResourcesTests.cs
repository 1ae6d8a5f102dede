using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Facade;

/// <summary>One broker in the test process over the reference server (resources, templates, prompts) and one that cannot start.</summary>
public sealed class FacadeResourcesFixture : IAsyncLifetime
{
    internal InProcessBroker Broker { get; private set; } = null!;

    public async Task InitializeAsync() => Broker = await InProcessBroker.CreateAsync($$"""
        profiles:
          compact: { compact_tools_enabled: true }
        upstreams:
          ev: { command: "{{Repo.NodeBin("mcp-server-everything")}}" }
          down: { command: "{{Repo.TestUpstream}}", args: ["--exit-at-start", "3"], restart: { max_attempts: 1 } }
        """);

    public async Task DisposeAsync() => await Broker.DisposeAsync();
}

/// <summary>
/// A compact profile's way to resources and prompts: the unlisted broker tools (list_resources, read_resource,
/// list_prompts, get_prompt) run through call_tool, in-process over a real server.
/// </summary>
public sealed class FacadeResourcesTests(FacadeResourcesFixture fixture) : IClassFixture<FacadeResourcesFixture>
{
    private const string Document = "mcp-broker://ev/demo://resource/static/document/architecture.md";

    private InProcessBroker Broker => fixture.Broker;

    private async Task<CallToolResult> CallAsync(string tool, object? arguments = null)
    {
        var result = await Broker.Facade.CallToolAsync(Broker.Profile("compact"), "s1", new CallToolRequestParams
        {
            Name = "broker.call_tool",
            Arguments = new Dictionary<string, JsonElement>
            {
                ["name"] = JsonSerializer.SerializeToElement(tool),
                ["arguments"] = JsonSerializer.SerializeToElement(arguments),
            },
        }, CancellationToken.None);
        Broker.RememberProcesses();
        return result;
    }

    private static JsonObject Json(CallToolResult result)
    {
        Assert.NotEqual(true, result.IsError);
        return JsonNode.Parse(Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text)!.AsObject();
    }

    private static JsonNode Error(CallToolResult result)
    {
        Assert.True(result.IsError);
        return JsonNode.Parse(Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text)!["error"]!;
    }

    [Fact]
    public async Task ListResources_GivesResourcesAndTemplatesUnderBrokerUris_AndNamesTheUpstreamThatCouldNotAnswer()
    {
        var listed = Json(await CallAsync("broker.list_resources"));

        Assert.Contains(listed["resources"]!.AsArray(), r => (string)r!["uri"]! == Document);
        Assert.All(listed["resources"]!.AsArray(), r => Assert.StartsWith("mcp-broker://ev/", (string)r!["uri"]!, StringComparison.Ordinal));
        Assert.Contains(listed["templates"]!.AsArray(), t => (string)t!["uriTemplate"]! == "mcp-broker://ev/demo://resource/dynamic/text/{resourceId}");
        Assert.Contains(listed["unavailable"]!.AsArray(), u => (string)u!["upstream"]! == "down");
    }

    [Fact]
    public async Task ListResources_OfOneUpstream_AsksOnlyThatOne()
    {
        var listed = Json(await CallAsync("broker.list_resources", new { upstream = "ev" }));

        Assert.Contains(listed["resources"]!.AsArray(), r => (string)r!["uri"]! == Document);
        Assert.Null(listed["unavailable"]);
    }

    [Fact]
    public async Task ListResources_OfAnUpstreamNotInTheProfile_SaysWhichThereAre()
    {
        var error = Error(await CallAsync("broker.list_resources", new { upstream = "nope" }));

        Assert.Equal("invalid_arguments", (string)error["code"]!);
        Assert.Equal("'upstream' must be one of this profile's upstreams: ev, down", (string)error["message"]!);
    }

    [Fact]
    public async Task ReadResource_GivesTheContentsUnderTheUriItWasAskedBy()
    {
        var result = await CallAsync("broker.read_resource", new { uri = Document });

        Assert.NotEqual(true, result.IsError);
        var embedded = Assert.IsType<EmbeddedResourceBlock>(Assert.Single(result.Content));
        Assert.Equal(Document, embedded.Resource.Uri);
        Assert.False(string.IsNullOrEmpty(Assert.IsType<TextResourceContents>(embedded.Resource).Text));
    }

    [Fact]
    public async Task ReadResource_WithoutAUri_SaysWhatToPass()
    {
        var error = Error(await CallAsync("broker.read_resource"));

        Assert.Equal("invalid_arguments", (string)error["code"]!);
        Assert.Equal("'uri' must be a resource URI as list_resources gave it", (string)error["message"]!);
    }

    [Fact]
    public async Task ReadResource_AnUpstreamsOwnUri_IsRefusedWithTheWayToTheRightOne()
    {
        var error = Error(await CallAsync("broker.read_resource", new { uri = "demo://resource/static/document/architecture.md" }));

        Assert.Equal("invalid_arguments", (string)error["code"]!);
        Assert.Equal("use a name exactly as broker.list_resources gave it", (string)error["hint"]!);
    }

    [Fact]
    public async Task ListPrompts_GivesPromptNamesWithTheirArguments()
    {
        var prompts = Json(await CallAsync("broker.list_prompts", new { upstream = "ev" }))["prompts"]!.AsArray();

        var args = Assert.Single(prompts, p => (string)p!["name"]! == "ev.args-prompt")!;
        Assert.Contains(args["arguments"]!.AsArray(), a => (string)a!["name"]! == "city" && (bool)a["required"]!);
        Assert.Contains(prompts, p => (string)p!["name"]! == "ev.simple-prompt");
    }

    [Fact]
    public async Task GetPrompt_FillsTheArguments()
    {
        var prompt = Json(await CallAsync("broker.get_prompt", new { name = "ev.args-prompt", arguments = new { city = "Oslo" } }));

        Assert.Contains("Oslo", prompt["messages"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetPrompt_WithoutAName_SaysWhatToPass_AndAnUnknownOneHowToFindIt()
    {
        var missing = Error(await CallAsync("broker.get_prompt"));
        var unknown = Error(await CallAsync("broker.get_prompt", new { name = "nobody.simple-prompt" }));

        Assert.Equal("'name' must be a prompt name as list_prompts gave it", (string)missing["message"]!);
        Assert.Equal("invalid_arguments", (string)unknown["code"]!);
        Assert.Equal("use a name exactly as broker.list_prompts gave it", (string)unknown["hint"]!);
    }

    [Fact]
    public async Task Search_NamesTheUpstreamThatCouldNotBeListed_BesideWhatItFound()
    {
        var found = Json(await Broker.Facade.CallToolAsync(Broker.Profile("compact"), "s1", new CallToolRequestParams
        {
            Name = "broker.search_tools",
            Arguments = new Dictionary<string, JsonElement> { ["query"] = JsonSerializer.SerializeToElement("echo a message") },
        }, CancellationToken.None));
        Broker.RememberProcesses();

        Assert.Contains(found["matches"]!.AsArray(), m => (string)m!["name"]! == "ev.echo");
        var down = Assert.Single(found["unavailable"]!.AsArray());
        Assert.Equal("down", (string)down!["upstream"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)down["error"]));
    }

    [Fact]
    public async Task CallTool_OfAnUpstreamThatCouldNotBeListed_IsThatUpstreamsErrorNotAnUnknownTool()
    {
        var error = Error(await CallAsync("down.anything"));

        Assert.NotEqual("unknown_tool", (string)error["code"]!);
        Assert.Contains("down", (string)error["message"]!, StringComparison.Ordinal);
    }
}
