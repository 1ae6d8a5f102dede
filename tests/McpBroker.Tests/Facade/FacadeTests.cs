using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Facade;
using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Facade;

/// <summary>One broker, in the test process, over one real test upstream, shared by the read-only facade tests.</summary>
public sealed class FacadeFixture : IAsyncLifetime
{
    internal InProcessBroker Broker { get; private set; } = null!;

    public async Task InitializeAsync() => Broker = await InProcessBroker.CreateAsync($$"""
        profiles:
          compact: { compact_tools_enabled: true }
          snake: { compact_tools_enabled: true, broker_tool_name_style: snake }
          writer: { compact_tools_enabled: true, allow_mutating_tools: ["t.crash"] }
          raw: { compact_tools_enabled: false, tools_page_size: 3 }
          one_page: { compact_tools_enabled: false, tools_page_size: 0 }
          tiny: { compact_tools_enabled: false, max_tools: 2 }
          tiny_compact: { compact_tools_enabled: false, max_tools: 2, on_over_budget: compact }
          at_budget: { compact_tools_enabled: false, tools_page_size: 0, max_tools: 7 }
          at_budget_compact: { compact_tools_enabled: false, max_tools: 7, on_over_budget: compact }
        upstreams:
          t:
            command: "{{Repo.TestUpstream}}"
            tools:
              echo: { defaults: { message: "from the defaults" } }
              pid: { hidden: true }
              hang: { mutating: false }
        """);

    public async Task DisposeAsync() => await Broker.DisposeAsync();
}

/// <summary>
/// The facade's tools (search, describe, call, status) and a raw profile's list and calls, in-process over a real
/// upstream: every argument a model can get wrong gets an error that says what to fix.
/// </summary>
public sealed class FacadeTests(FacadeFixture fixture) : IClassFixture<FacadeFixture>
{
    private const string Session = "s1";

    private InProcessBroker Broker => fixture.Broker;

    private async Task<CallToolResult> CallAsync(string profile, string tool, string arguments = "{}")
    {
        var result = await Broker.Facade.CallToolAsync(Broker.Profile(profile), Session, new CallToolRequestParams
        {
            Name = tool,
            Arguments = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(arguments),
        }, CancellationToken.None);
        Broker.RememberProcesses();
        return result;
    }

    private static string Text(CallToolResult result) => Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;

    private static JsonObject Json(CallToolResult result)
    {
        Assert.NotEqual(true, result.IsError);
        return JsonNode.Parse(Text(result))!.AsObject();
    }

    /// <summary>The error a client reads: its code, message and hint.</summary>
    private static (string Code, string Message, string Hint) Error(CallToolResult result)
    {
        Assert.True(result.IsError);
        var error = JsonNode.Parse(Text(result))!["error"]!;
        return ((string)error["code"]!, (string)error["message"]!, (string)error["hint"]!);
    }

    [Fact]
    public async Task ListTools_CompactProfile_ListsTheFourBrokerToolsInItsNameStyle()
    {
        var dotted = await Broker.Facade.ListToolsAsync(Broker.Profile("compact"), Session, null, CancellationToken.None);
        var snake = await Broker.Facade.ListToolsAsync(Broker.Profile("snake"), Session, null, CancellationToken.None);

        Assert.Equal(["broker.search_tools", "broker.describe_tool", "broker.call_tool", "broker.status"], dotted.Tools.Select(t => t.Name));
        Assert.Equal(["broker_search_tools", "broker_describe_tool", "broker_call_tool", "broker_status"], snake.Tools.Select(t => t.Name));
        Assert.Null(dotted.NextCursor);
    }

    [Theory]
    [InlineData("{}", "'query' must be a non-empty string")]
    [InlineData("""{"query": ""}""", "'query' must be a non-empty string")]
    [InlineData("""{"query": "   "}""", "'query' must be a non-empty string")]
    [InlineData("""{"query": 42}""", "'query' must be a non-empty string")]
    [InlineData("""{"query": "echo", "limit": 0}""", "'limit' must be a whole number from 1 to 50")]
    [InlineData("""{"query": "echo", "limit": 51}""", "'limit' must be a whole number from 1 to 50")]
    [InlineData("""{"query": "echo", "limit": 2.5}""", "'limit' must be a whole number from 1 to 50")]
    [InlineData("""{"query": "echo", "limit": "3"}""", "'limit' must be a whole number from 1 to 50")]
    [InlineData("""{"query": "echo", "detail": "yes"}""", "'detail' must be true or false")]
    [InlineData("""{"query": "echo", "detail": 1}""", "'detail' must be true or false")]
    public async Task Search_BadArguments_SayWhatToFix(string arguments, string message)
    {
        var (code, text, hint) = Error(await CallAsync("compact", "broker.search_tools", arguments));

        Assert.Equal("invalid_arguments", code);
        Assert.StartsWith(message, text, StringComparison.Ordinal);
        Assert.Equal("see the tool's input schema in tools/list", hint);
    }

    [Fact]
    public async Task Search_FindsAToolWithWhatItTakesToCallIt()
    {
        var matches = Json(await CallAsync("compact", "broker.search_tools", """{"query": "answer after milliseconds", "limit": 1}"""))["matches"]!.AsArray();

        var match = Assert.Single(matches)!.AsObject();
        Assert.Equal("t.slow", (string)match["name"]!);
        Assert.Equal("t", (string)match["upstream"]!);
        Assert.False((bool)match["mutating"]!);
        Assert.Equal("Answer after ms milliseconds", (string)match["description"]!);
        Assert.Empty(match["required"]!.AsArray());
        Assert.False(match.ContainsKey("inputSchema"));
    }

    [Fact]
    public async Task Search_WithDetail_GivesTheSchemasOfTheTopThreeOnly()
    {
        var matches = Json(await CallAsync("compact", "broker.search_tools", """{"query": "message answer client sample", "limit": 5, "detail": true}"""))["matches"]!.AsArray();

        Assert.True(matches.Count > 3, matches.ToJsonString());
        Assert.All(matches.Take(3), m => Assert.Equal("object", (string)m!["inputSchema"]!["type"]!));
        Assert.All(matches.Skip(3), m => Assert.False(m!.AsObject().ContainsKey("inputSchema")));
    }

    [Fact]
    public async Task Search_EachMatch_SaysWhichRequestWordsItMatched()
    {
        var matches = Json(await CallAsync("compact", "broker.search_tools", """{"query": "answer after a few milliseconds", "limit": 1}"""))["matches"]!.AsArray();

        var match = Assert.Single(matches)!.AsObject();
        Assert.Equal("t.slow", (string)match["name"]!);
        Assert.Equal(["after", "answer", "milliseconds"], match["matched"]!.AsArray().Select(w => (string)w!).Order());
    }

    [Fact]
    public async Task Search_RequestNothingMatches_SaysSo_InsteadOfFillingTheList()
    {
        var none = Json(await CallAsync("compact", "broker.search_tools", """{"query": "book a flight to Tokyo next Friday"}"""));
        var weak = Json(await CallAsync("compact", "broker.search_tools", """{"query": "answer the phone when grandma rings", "limit": 8}"""));

        Assert.Empty(none["matches"]!.AsArray());
        Assert.StartsWith("No tool here matches this request.", (string)none["note"]!, StringComparison.Ordinal);
        Assert.InRange(weak["matches"]!.AsArray().Count, 1, 3);
        Assert.StartsWith("No tool here matches this request well", (string)weak["note"]!, StringComparison.Ordinal);
        Assert.All(weak["matches"]!.AsArray(), m => Assert.Single(m!["matched"]!.AsArray()));
    }

    [Fact]
    public async Task Search_GoodMatches_CarryNoNote()
    {
        var found = Json(await CallAsync("compact", "broker.search_tools", """{"query": "echo a message back"}"""));

        Assert.NotEmpty(found["matches"]!.AsArray());
        Assert.False(found.ContainsKey("note"));
    }

    [Fact]
    public async Task Search_DetailFalse_GivesNoSchemas()
    {
        var matches = Json(await CallAsync("compact", "broker.search_tools", """{"query": "echo", "detail": false}"""))["matches"]!.AsArray();

        Assert.NotEmpty(matches);
        Assert.All(matches, m => Assert.False(m!.AsObject().ContainsKey("inputSchema")));
    }

    [Fact]
    public async Task Search_ForResourcesOrPrompts_FindsTheUnlistedBrokerTools()
    {
        var resources = Json(await CallAsync("compact", "broker.search_tools", """{"query": "read a resource"}"""))["matches"]!.AsArray();
        var prompts = Json(await CallAsync("snake", "broker_search_tools", """{"query": "prompt"}"""))["matches"]!.AsArray();

        var read = Assert.Single(resources, m => (string)m!["name"]! == "broker.read_resource")!;
        Assert.Equal("broker", (string)read["upstream"]!);
        Assert.Equal(["uri"], read["required"]!.AsArray().Select(r => (string)r!));
        Assert.Contains(prompts, m => (string)m!["name"]! == "broker_get_prompt");
        Assert.Contains(prompts, m => (string)m!["name"]! == "broker_list_prompts");
    }

    [Fact]
    public async Task Search_NeverShowsAHiddenTool()
    {
        var matches = Json(await CallAsync("compact", "broker.search_tools", """{"query": "the server's process id", "limit": 50}"""))["matches"]!.AsArray();

        Assert.DoesNotContain(matches, m => (string)m!["name"]! == "t.pid");
        Assert.Contains(matches, m => (string)m!["name"]! == "t.child_pid");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"name": ""}""")]
    [InlineData("""{"name": 7}""")]
    public async Task Describe_WithoutAName_SaysWhatToPass(string arguments)
    {
        var (code, message, _) = Error(await CallAsync("compact", "broker.describe_tool", arguments));

        Assert.Equal("invalid_arguments", code);
        Assert.Equal("'name' must be a tool name as search_tools returned it", message);
    }

    [Fact]
    public async Task Describe_GivesTheDefinitionWithItsUpstreamAndWhetherItMutates()
    {
        var definition = Json(await CallAsync("writer", "broker.describe_tool", """{"name": "t.crash"}"""));

        Assert.Equal("t.crash", (string)definition["name"]!);
        Assert.Equal("Exit the process in the middle of the call", (string)definition["description"]!);
        Assert.Equal("integer", (string)definition["inputSchema"]!["properties"]!["code"]!["type"]!);
        Assert.Equal("t", (string)definition["upstream"]!);
        Assert.True((bool)definition["mutating"]!);
    }

    [Fact]
    public async Task Describe_AToolConfiguredReadOnly_SaysItDoesNotMutate()
    {
        var definition = Json(await CallAsync("compact", "broker.describe_tool", """{"name": "t.hang"}"""));

        Assert.False((bool)definition["mutating"]!);
    }

    [Fact]
    public async Task Describe_AnUnlistedBrokerTool_GivesItsDefinition()
    {
        var definition = Json(await CallAsync("snake", "broker_describe_tool", """{"name": "broker_read_resource"}"""));

        Assert.Equal("broker_read_resource", (string)definition["name"]!);
        Assert.Equal(["uri"], definition["inputSchema"]!["required"]!.AsArray().Select(r => (string)r!));
    }

    [Fact]
    public async Task Describe_AMisspelledName_IsUnknownAndSuggestsTheNearestTool()
    {
        var (code, message, hint) = Error(await CallAsync("compact", "broker.describe_tool", """{"name": "echo"}"""));

        Assert.Equal("unknown_tool", code);
        Assert.Equal("no tool named 'echo' in profile 'compact'", message);
        Assert.Equal("use a name exactly as broker.search_tools returned it; did you mean 't.echo'?", hint);
    }

    [Fact]
    public async Task Describe_AHiddenTool_IsUnknown()
    {
        var (code, _, _) = Error(await CallAsync("compact", "broker.describe_tool", """{"name": "t.pid"}"""));

        Assert.Equal("unknown_tool", code);
    }

    [Fact]
    public async Task Describe_AVeryLongName_IsCutInTheMessageAndGetsNoSuggestion()
    {
        var name = new string('x', 300);
        var (_, message, hint) = Error(await CallAsync("compact", "broker.describe_tool", $$"""{"name": "{{name}}"}"""));

        Assert.Equal($"no tool named '{new string('x', 199)}…' in profile 'compact'", message);
        Assert.Equal("use a name exactly as broker.search_tools returned it", hint);
    }

    [Theory]
    [InlineData("{}", "'name' must be a tool name as search_tools returned it")]
    [InlineData("""{"name": "t.echo", "arguments": "hello"}""", "'arguments' must be an object of the tool's arguments")]
    [InlineData("""{"name": "t.echo", "arguments": [1]}""", "'arguments' must be an object of the tool's arguments")]
    public async Task CallTool_BadArguments_SayWhatToFix(string arguments, string message)
    {
        var (code, text, _) = Error(await CallAsync("compact", "broker.call_tool", arguments));

        Assert.Equal("invalid_arguments", code);
        Assert.StartsWith(message, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallTool_RunsTheUpstreamToolWithTheArguments()
    {
        var result = await CallAsync("compact", "broker.call_tool", """{"name": "t.echo", "arguments": {"message": "hello"}}""");

        Assert.NotEqual(true, result.IsError);
        Assert.Equal("echo: hello", Text(result));
    }

    [Fact]
    public async Task CallTool_NullArguments_CallsWithTheDefaults()
    {
        var result = await CallAsync("compact", "broker.call_tool", """{"name": "t.echo", "arguments": null}""");

        Assert.NotEqual(true, result.IsError);
        Assert.Equal("echo: from the defaults", Text(result));
    }

    [Fact]
    public async Task CallTool_ConfiguredDefaults_FillWhatTheCallerLeftOut()
    {
        var defaulted = await CallAsync("compact", "broker.call_tool", """{"name": "t.echo"}""");
        var given = await CallAsync("compact", "broker.call_tool", """{"name": "t.echo", "arguments": {"message": "mine"}}""");

        Assert.Equal("echo: from the defaults", Text(defaulted));
        Assert.Equal("echo: mine", Text(given));
    }

    [Fact]
    public async Task CallTool_AMutatingToolTheProfileDoesNotAllow_IsRefusedWithTheSettingToChange()
    {
        var (code, message, hint) = Error(await CallAsync("compact", "broker.call_tool", """{"name": "t.add_tool"}"""));

        Assert.Equal("mutating_not_allowed", code);
        Assert.Equal("'t.add_tool' may change things, and profile 'compact' does not allow mutating tools of upstream 't'", message);
        Assert.Equal("ask the user to allow it: profiles.compact.allow_mutating_tools: [t.add_tool] (or allow_mutating_upstreams: [t])", hint);
    }

    [Fact]
    public async Task CallTool_AnUnknownName_IsUnknown()
    {
        var (code, message, _) = Error(await CallAsync("compact", "broker.call_tool", """{"name": "nope.tool"}"""));

        Assert.Equal("unknown_tool", code);
        Assert.Equal("no tool named 'nope.tool' in profile 'compact'", message);
    }

    [Fact]
    public async Task CallTool_ATooLongArgumentSet_IsPassedThroughAsGiven()
    {
        var message = new string('m', 10_000);
        var result = await CallAsync("compact", "broker.call_tool", JsonSerializer.Serialize(new { name = "t.echo", arguments = new { message } }));

        Assert.Equal("echo: " + message, Text(result));
    }

    [Fact]
    public async Task CallTool_IsRecordedInTheCallLog()
    {
        await CallAsync("snake", "broker_call_tool", """{"name": "t__echo", "arguments": {"message": "logged"}}""");

        Assert.Contains(Broker.Calls.Recent(), c => c.Profile == "snake" && c.Upstream == "t" && c.Tool == "echo" && c.Outcome == McpBroker.Telemetry.CallLog.Ok);
    }

    [Fact]
    public async Task CompactProfile_AnUpstreamToolNameCalledDirectly_IsNotABrokerTool()
    {
        var (code, message, hint) = Error(await CallAsync("compact", "t.echo"));

        Assert.Equal("unknown_tool", code);
        Assert.Equal("'t.echo' is not a broker tool", message);
        Assert.Equal("call upstream tools through broker.call_tool with the name broker.search_tools returned", hint);
    }

    [Fact]
    public async Task Status_ShowsTheProfileAndEachUpstreamWithoutSecrets()
    {
        await CallAsync("compact", "broker.call_tool", """{"name": "t.echo", "arguments": {"message": "warm"}}""");
        var status = Json(await CallAsync("compact", "broker.status"));

        Assert.Equal("compact", (string)status["profile"]!);
        var upstream = Assert.Single(status["upstreams"]!.AsArray())!;
        Assert.Equal("t", (string)upstream["name"]!);
        Assert.Equal("shared", (string)upstream["mode"]!);
        Assert.Equal("stdio", (string)upstream["transport"]!);
        Assert.Equal("running", (string)upstream["state"]!);
        Assert.True((int)upstream["pid"]! > 0);
        Assert.Equal(7, (int)upstream["tools"]!); // 11 tools, less pid (hidden) and crash, freeze, add_tool (mutating)
        Assert.Equal(3, (int)upstream["mutating_hidden"]!);
        Assert.False(upstream.AsObject().ContainsKey("quarantined"));
    }

    [Fact]
    public async Task Status_IsABrokerToolInARawProfileToo()
    {
        var status = Json(await CallAsync("raw", "broker.status"));

        Assert.Equal("raw", (string)status["profile"]!);
    }

    [Fact]
    public async Task RawProfile_ListsTheUpstreamToolsInPagesWithACursor()
    {
        var profile = Broker.Profile("raw");
        var names = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await Broker.Facade.ListToolsAsync(profile, Session, cursor, CancellationToken.None);
            Assert.True(page.Tools.Count <= 3);
            names.AddRange(page.Tools.Select(t => t.Name));
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null);

        var all = await Broker.Facade.ListToolsAsync(Broker.Profile("one_page"), Session, null, CancellationToken.None);
        Assert.Equal(all.Tools.Select(t => t.Name), names);
        Assert.Equal((names.Count + 2) / 3, pages);
        Assert.Contains("t.echo", names);
        Assert.DoesNotContain("t.pid", names);
        Assert.DoesNotContain("t.crash", names);
        Assert.Null(all.NextCursor);
    }

    [Theory]
    [InlineData("nonsense")]
    [InlineData("1")]
    [InlineData(".3")]
    [InlineData("999.3")]
    [InlineData("1.-1")]
    [InlineData("1.x")]
    public async Task RawProfile_ACursorNotOursOrOutOfDate_IsInvalidParams(string cursor)
    {
        var ex = await Assert.ThrowsAsync<McpProtocolException>(async () => await Broker.Facade.ListToolsAsync(Broker.Profile("raw"), Session, cursor, CancellationToken.None));

        Assert.Equal(McpErrorCode.InvalidParams, ex.ErrorCode);
        Assert.Contains("list again without a cursor", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RawProfile_OverItsBudget_SaysWhichSettingsToChange()
    {
        var ex = await Assert.ThrowsAsync<McpProtocolException>(async () => await Broker.Facade.ListToolsAsync(Broker.Profile("tiny"), Session, null, CancellationToken.None));

        Assert.Matches("^profile 'tiny' would list [0-9]+ tools, over its max_tools budget of 2; raise profiles.tiny.max_tools, set on_over_budget: compact, or use compact_tools_enabled: true$", ex.Message);
        Assert.Equal("over-budget", await Broker.Facade.ListSignatureAsync(Broker.Profile("tiny"), Session, CancellationToken.None));
    }

    [Fact]
    public async Task RawProfile_ExactlyAtItsBudget_ListsItsTools_AndItsBrokerToolsStayUnlisted()
    {
        var all = await Broker.Facade.ListToolsAsync(Broker.Profile("one_page"), Session, null, CancellationToken.None);
        var atBudget = await Broker.Facade.ListToolsAsync(Broker.Profile("at_budget"), Session, null, CancellationToken.None);
        var fallback = await Broker.Facade.ListToolsAsync(Broker.Profile("at_budget_compact"), Session, null, CancellationToken.None);
        var search = await CallAsync("at_budget_compact", "broker.search_tools", """{"query": "echo"}""");

        Assert.Equal(7, all.Tools.Count); // the budget of both profiles: exactly what the profile would list
        Assert.Equal(all.Tools.Select(t => t.Name), atBudget.Tools.Select(t => t.Name));
        Assert.Equal(all.Tools.Select(t => t.Name), fallback.Tools.Select(t => t.Name));
        Assert.NotEqual("over-budget", await Broker.Facade.ListSignatureAsync(Broker.Profile("at_budget"), Session, CancellationToken.None));
        Assert.Equal("unknown_tool", Error(search).Code);
    }

    [Fact]
    public async Task RawProfile_ACursorAtOffsetZero_GivesTheFirstPageAgain()
    {
        var profile = Broker.Profile("raw");
        var first = await Broker.Facade.ListToolsAsync(profile, Session, null, CancellationToken.None);
        var version = first.NextCursor![..first.NextCursor!.IndexOf('.', StringComparison.Ordinal)];

        var again = await Broker.Facade.ListToolsAsync(profile, Session, $"{version}.0", CancellationToken.None);

        Assert.Equal(first.Tools.Select(t => t.Name), again.Tools.Select(t => t.Name));
        Assert.Equal(first.NextCursor, again.NextCursor);
    }

    [Fact]
    public async Task RawProfile_OverItsBudgetWithCompactFallback_BehavesAsACompactProfile()
    {
        var profile = Broker.Profile("tiny_compact");
        var listed = await Broker.Facade.ListToolsAsync(profile, Session, null, CancellationToken.None);
        var searched = Json(await CallAsync("tiny_compact", "broker.search_tools", """{"query": "echo"}"""));

        Assert.Equal(FacadeTools.Definitions(profile.NameStyle).Select(t => t.Name), listed.Tools.Select(t => t.Name));
        Assert.Contains(searched["matches"]!.AsArray(), m => (string)m!["name"]! == "t.echo");
    }

    [Fact]
    public async Task RawProfile_BrokerToolNamesOtherThanStatus_AreNotBrokerTools()
    {
        var (code, message, _) = Error(await CallAsync("raw", "broker.search_tools", """{"query": "echo"}"""));

        Assert.Equal("unknown_tool", code);
        Assert.Equal("no tool named 'broker.search_tools' in profile 'raw'", message);
    }

    [Fact]
    public async Task RawProfile_CallsAToolByItsListedName()
    {
        var result = await CallAsync("raw", "t.echo", """{"message": "direct"}""");

        Assert.Equal("echo: direct", Text(result));
    }

    [Fact]
    public async Task RawProfile_AnUnknownName_HintsAtToolsList()
    {
        var (_, _, hint) = Error(await CallAsync("raw", "t.ech"));

        Assert.StartsWith("use a name exactly as tools/list returned it", hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListSignature_ChangesWithWhatTheListShows()
    {
        var raw = await Broker.Facade.ListSignatureAsync(Broker.Profile("raw"), Session, CancellationToken.None);
        var again = await Broker.Facade.ListSignatureAsync(Broker.Profile("raw"), Session, CancellationToken.None);
        var writer = await Broker.Facade.ListSignatureAsync(Broker.Profile("writer"), Session, CancellationToken.None);
        var compact = await Broker.Facade.ListSignatureAsync(Broker.Profile("compact"), Session, CancellationToken.None);

        Assert.Equal(raw, again);
        Assert.Contains("t.echo\t", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("t.crash\t", raw, StringComparison.Ordinal);

        // A compact list shows search_tools' description, which counts the tools of each server the profile sees.
        var listed = await Broker.Facade.ListToolsAsync(Broker.Profile("writer"), Session, null, CancellationToken.None);
        Assert.Equal(listed.Tools.Single(t => t.Name == "broker.search_tools").Description, writer);
        Assert.NotEqual(compact, writer);
    }

    [Fact]
    public async Task CallTool_CancelledByTheClient_IsACancelledErrorAndRecordedSo()
    {
        await CallAsync("compact", "broker.call_tool", """{"name": "t.echo"}"""); // the catalog and the upstream are ready: the call below waits on the upstream only
        using var cts = new CancellationTokenSource();
        var call = Broker.Facade.CallToolAsync(Broker.Profile("compact"), Session, new CallToolRequestParams
        {
            Name = "broker.call_tool",
            Arguments = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""{"name": "t.hang", "arguments": {"ms": 600000}}"""),
        }, cts.Token).AsTask();
        await cts.CancelAsync();

        var (code, message, _) = Error(await call);
        Assert.Equal("cancelled", code);
        Assert.Equal("the request was cancelled", message);
        Assert.Contains(Broker.Calls.Recent(), c => c.Tool == "hang" && c.Outcome == "cancelled");
    }

    [Fact]
    public void ErrorResult_IsAnErrorWithCodeMessageAndHint()
    {
        var result = BrokerFacade.ErrorResult(new BrokerError(BrokerErrorCode.UnknownTool, "m", "h"));

        Assert.True(result.IsError);
        Assert.Equal("""{"error":{"code":"unknown_tool","message":"m","hint":"h"}}""", Text(result));
    }

    [Fact]
    public void Match_TakesTheFirstSentenceOfTheFirstLineAndTheRequiredArguments()
    {
        var tool = new Tool
        {
            Name = "x",
            Description = "  Reads a file. Then more.\nSecond line",
            InputSchema = JsonElement.Parse("""{"type":"object","required":["path", 3, "mode"]}"""),
        };

        var match = BrokerFacade.Match("u.x", tool, "u", mutating: true);

        Assert.Equal("""{"name":"u.x","description":"Reads a file.","upstream":"u","mutating":true,"required":["path","mode"]}""", match.ToJsonString());
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("   ", "")]
    [InlineData("No sentence end here", "No sentence end here")]
    [InlineData("Ends. ", "Ends.")]
    public void Match_DescriptionIsOneLine(string? description, string expected)
    {
        var tool = new Tool { Name = "x", Description = description, InputSchema = JsonElement.Parse("""{"type":"object"}""") };

        Assert.Equal(expected, (string)BrokerFacade.Match("x", tool, "u", false)["description"]!);
    }

    [Fact]
    public void Match_ALongDescription_IsCutAt160Characters()
    {
        var tool = new Tool { Name = "x", Description = new string('d', 400), InputSchema = JsonElement.Parse("""{"type":"object"}""") };

        Assert.Equal(new string('d', 159) + "…", (string)BrokerFacade.Match("x", tool, "u", false)["description"]!);
    }
}
