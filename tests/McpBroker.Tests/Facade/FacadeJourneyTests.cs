using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Facade;

/// <summary>The compact facade through the real shim and daemon, against real npm MCP servers.</summary>
public sealed class FacadeJourneyTests
{
    [Fact]
    public async Task ToolsList_CompactProfile_ListsExactlyTheFourBrokerTools()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();

        var tools = await client.ListToolsAsync();

        Assert.Equal(["broker.search_tools", "broker.describe_tool", "broker.call_tool", "broker.status"], tools.Select(t => t.Name));
        Assert.Equal("mcp-broker", client.ServerInfo?.Name);
    }

    [Fact]
    public async Task Search_TaskPhrasedQuery_RanksCreateEntitiesInTopThree()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();

        var result = await BrokerEnvironment.CallJsonAsync(client, "broker.search_tools", new() { ["query"] = "remember that Alice likes tea" });

        var names = result.GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("memory.create_entities", names.Take(3));
        var match = result.GetProperty("matches").EnumerateArray().First(m => m.GetProperty("name").GetString() == "memory.create_entities");
        Assert.Equal("memory", match.GetProperty("upstream").GetString());
        Assert.True(match.GetProperty("mutating").GetBoolean());
        Assert.Equal(["entities"], match.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task DescribeThenCall_MemoryTools_RoundTripThroughTheUpstream()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();

        var definition = await BrokerEnvironment.CallJsonAsync(client, "broker.describe_tool", new() { ["name"] = "memory.create_entities" });
        Assert.Equal("memory.create_entities", definition.GetProperty("name").GetString());
        Assert.Equal("object", definition.GetProperty("inputSchema").GetProperty("type").GetString());

        var entities = JsonDocument.Parse("""{"entities":[{"name":"Alice","entityType":"person","observations":["likes tea"]}]}""").RootElement;
        await BrokerEnvironment.CallTextAsync(client, "broker.call_tool", new() { ["name"] = "memory.create_entities", ["arguments"] = entities });
        var graph = await BrokerEnvironment.CallTextAsync(client, "broker.call_tool", new() { ["name"] = "memory.read_graph", ["arguments"] = new Dictionary<string, object?>() });

        Assert.Contains("likes tea", graph);
        var echo = await BrokerEnvironment.CallTextAsync(client, "broker.call_tool",
            new() { ["name"] = "everything.echo", ["arguments"] = new Dictionary<string, object?> { ["message"] = "ping through the broker" } });
        Assert.Equal("Echo: ping through the broker", echo);
    }

    [Fact]
    public async Task Call_UnknownToolAndBadArguments_ReturnStructuredErrorResults()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();
        await BrokerEnvironment.CallTextAsync(client, "broker.search_tools", new() { ["query"] = "echo" });

        var unknown = await client.CallToolAsync("broker.call_tool", new Dictionary<string, object?> { ["name"] = "memory.create_entity" });
        var badArgs = await client.CallToolAsync("broker.call_tool", new Dictionary<string, object?> { ["name"] = "everything.echo", ["arguments"] = "hello" });
        var noQuery = await client.CallToolAsync("broker.search_tools", new Dictionary<string, object?>());

        AssertError(unknown, "unknown_tool", hintContains: "memory.create_entities");
        AssertError(badArgs, "invalid_arguments");
        AssertError(noQuery, "invalid_arguments");
    }

    [Fact]
    public async Task Status_BeforeAnyCall_StartsNothing()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();

        var status = await BrokerEnvironment.CallJsonAsync(client, "broker.status", []);

        var states = status.GetProperty("upstreams").EnumerateArray().ToDictionary(u => u.GetProperty("name").GetString()!, u => u.GetProperty("state").GetString());
        Assert.Equal(new Dictionary<string, string?> { ["memory"] = "stopped", ["everything"] = "stopped", ["filesystem"] = "stopped" }, states);
        Assert.Empty(Processes.Descendants(env.DaemonPid!.Value));
    }

    [Fact]
    public async Task Search_AfterDaemonRestart_AnswersFromTheDiskCacheWithoutStartingUpstreams()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var first = await env.ConnectAsync();
        await BrokerEnvironment.CallTextAsync(first, "broker.search_tools", new() { ["query"] = "knowledge graph" });
        await env.StopDaemonAndAssertNothingLeftAsync();

        var second = await env.ConnectAsync();
        var result = await BrokerEnvironment.CallJsonAsync(second, "broker.search_tools", new() { ["query"] = "remember that Alice likes tea" });

        Assert.Contains("memory.create_entities", result.GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        Assert.Empty(Processes.Descendants(env.DaemonPid!.Value));
    }

    [Fact]
    public async Task SnakeStyle_NamesUseOnlySafeCharacters_AndEveryShownNameIsCallable()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync("snake");

        var tools = await client.ListToolsAsync();
        Assert.Equal(["broker_search_tools", "broker_describe_tool", "broker_call_tool", "broker_status"], tools.Select(t => t.Name));
        var matches = (await BrokerEnvironment.CallJsonAsync(client, "broker_search_tools", new() { ["query"] = "echo message", ["limit"] = 50 }))
            .GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("name").GetString()!).ToList();

        Assert.Contains("everything__echo", matches);
        Assert.All(matches, n => Assert.Matches("^[A-Za-z0-9_-]{1,64}$", n));
        foreach (var name in matches)
        {
            var definition = await BrokerEnvironment.CallJsonAsync(client, "broker_describe_tool", new() { ["name"] = name });
            Assert.Equal(name, definition.GetProperty("name").GetString());
        }

        var echo = await BrokerEnvironment.CallTextAsync(client, "broker_call_tool",
            new() { ["name"] = "everything__echo", ["arguments"] = new Dictionary<string, object?> { ["message"] = "snake" } });
        Assert.Equal("Echo: snake", echo);
    }

    [Fact]
    public async Task ToolOverrides_HideReplaceDescriptionAndDefaultArguments_OnEveryRoute()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root).Replace(
            "    purpose: reference server exercising every MCP feature\n",
            "    purpose: reference server exercising every MCP feature\n    tools:\n      get-sum: { hidden: true }\n      echo: { description: Parrot a phrase back, defaults: { message: from defaults } }\n",
            StringComparison.Ordinal));
        var compact = await env.ConnectAsync();
        var raw = await env.ConnectAsync("raw");

        var rawTools = await raw.ListToolsAsync();
        Assert.DoesNotContain(rawTools, t => t.Name == "everything.get-sum");
        Assert.Equal("Parrot a phrase back", rawTools.Single(t => t.Name == "everything.echo").Description);
        var matches = (await BrokerEnvironment.CallJsonAsync(compact, "broker.search_tools", new() { ["query"] = "parrot phrase sum numbers", ["limit"] = 50 }))
            .GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Equal("everything.echo", matches[0]);
        Assert.DoesNotContain("everything.get-sum", matches);
        AssertError(await compact.CallToolAsync("broker.describe_tool", new Dictionary<string, object?> { ["name"] = "everything.get-sum" }), "unknown_tool");
        AssertError(await compact.CallToolAsync("broker.call_tool", new Dictionary<string, object?> { ["name"] = "everything.get-sum", ["arguments"] = new Dictionary<string, object?> { ["a"] = 1, ["b"] = 2 } }), "unknown_tool");
        AssertError(await raw.CallToolAsync("everything.get-sum", new Dictionary<string, object?> { ["a"] = 1, ["b"] = 2 }), "unknown_tool");

        Assert.Equal("Echo: from defaults", await BrokerEnvironment.CallTextAsync(compact, "broker.call_tool", new() { ["name"] = "everything.echo" }));
        Assert.Equal("Echo: mine", await BrokerEnvironment.CallTextAsync(compact, "broker.call_tool",
            new() { ["name"] = "everything.echo", ["arguments"] = new Dictionary<string, object?> { ["message"] = "mine" } }));
        Assert.Equal("Echo: from defaults", await BrokerEnvironment.CallTextAsync(raw, "everything.echo", []));
        Assert.Equal("Echo: mine", await BrokerEnvironment.CallTextAsync(raw, "everything.echo", new() { ["message"] = "mine" }));
    }

    [Fact]
    public async Task UpstreamEnvironment_IsExplicit_TheDaemonsOwnVariablesDoNotLeakIn()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var raw = await env.ConnectAsync("raw");

        var result = await raw.CallToolAsync("everything.get-env", new Dictionary<string, object?>());
        var text = string.Concat(result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text));

        Assert.Contains("PATH", text);
        Assert.DoesNotContain("canary-must-not-reach-upstreams", text);
        Assert.DoesNotContain("MCP_BROKER_CLI", text);
    }

    private static void AssertError(ModelContextProtocol.Protocol.CallToolResult result, string code, string? hintContains = null)
    {
        Assert.True(result.IsError);
        var text = ((ModelContextProtocol.Protocol.TextContentBlock)result.Content[0]).Text;
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        if (hintContains is not null)
        {
            Assert.Contains(hintContains, error.GetProperty("hint").GetString());
        }
    }
}
