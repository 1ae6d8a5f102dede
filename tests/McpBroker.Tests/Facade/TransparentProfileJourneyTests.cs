using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Facade;

/// <summary>
/// A client sees the broker as the server it fronts: through a transparent profile in front of server-everything, the
/// same client exercises every feature that server offers (tools, resources, templates, subscriptions, prompts,
/// completion, progress, and the server's own sampling, elicitation and roots requests) and gets exactly what it gets
/// connected to server-everything directly.
/// </summary>
public sealed class TransparentProfileJourneyTests
{
    /// <summary>The revision the npm reference servers speak; the C# SDK's newest default asks per-request metadata of a server.</summary>
    private const string Protocol = "2025-11-25";

    [Fact]
    public async Task ThroughATransparentProfile_ServerEverything_AnswersExactlyAsItDoesDirectly()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              everything: { transparent: true, upstreams: [ev], allow_mutating_upstreams: [ev] }
            upstreams:
              ev: { command: "{{Repo.NodeBin("mcp-server-everything")}}", mode: per_session, profiles: [everything] }
            """);

        var direct = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = Repo.NodeBin("mcp-server-everything"),
            EnvironmentVariables = env.ProcessEnvironment,
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "journey-test", Version = "1" }, ProtocolVersion = Protocol, Handlers = Handlers(), Capabilities = Capabilities() });
        JsonObject directly;
        await using (direct)
        {
            directly = await ExerciseAsync(direct);
        }

        var brokered = await env.ConnectAsync("everything", Protocol, handlers: Handlers(), capabilities: Capabilities());
        var through = await ExerciseAsync(brokered);

        foreach (var (feature, expected) in directly)
        {
            Assert.True(JsonNode.DeepEquals(expected, through[feature]), $"{feature} differs through the broker: {Difference(expected, through[feature], "$")}");
        }

        Assert.Equal(directly.Select(f => f.Key), through.Select(f => f.Key));
    }

    [Fact]
    public async Task ThroughARawProfileOfTwoUpstreams_ResourcesAndPromptsAreNamespaced_AndEachLeadsBackToItsUpstream()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false, allow_mutating_upstreams: [ev] }
            upstreams:
              ev: { command: "{{Repo.NodeBin("mcp-server-everything")}}" }
              t: { command: "{{Repo.TestUpstream}}" }
              other: { command: "{{Repo.NodeBin("mcp-server-everything")}}", prefix: ev2 }
            """);
        var a = await env.ConnectAsync("raw", Protocol);
        var b = await env.ConnectAsync("raw", Protocol);

        // Both server-everything instances list their resources and prompts under their own prefix; the test upstream has none.
        var resources = await a.ListResourcesAsync(new ListResourcesRequestParams());
        var uris = resources.Resources.Select(r => r.Uri).ToList();
        Assert.Contains("mcp-broker://ev/demo://resource/static/document/architecture.md", uris);
        Assert.Contains("mcp-broker://ev2/demo://resource/static/document/architecture.md", uris);
        Assert.All(uris, u => Assert.Matches("^mcp-broker://ev2?/demo://", u));
        Assert.Null(resources.Meta);
        var templates = (await a.ListResourceTemplatesAsync(new ListResourceTemplatesRequestParams())).ResourceTemplates.Select(t => t.UriTemplate).ToList();
        Assert.Contains("mcp-broker://ev/demo://resource/dynamic/text/{resourceId}", templates);
        var prompts = (await a.ListPromptsAsync(new ListPromptsRequestParams())).Prompts.Select(p => p.Name).ToList();
        Assert.Contains("ev.simple-prompt", prompts);
        Assert.Contains("ev2.completable-prompt", prompts);

        // Reads, gets and completions are routed back, and what comes back is named the same way.
        var read = await a.ReadResourceAsync("mcp-broker://ev2/demo://resource/dynamic/text/7");
        Assert.Equal("mcp-broker://ev2/demo://resource/dynamic/text/7", read.Contents[0].Uri);
        Assert.StartsWith("Resource 7:", ((TextResourceContents)read.Contents[0]).Text);
        var prompt = await a.GetPromptAsync("ev.args-prompt", new Dictionary<string, object?> { ["city"] = "Oslo" });
        Assert.Contains("Oslo", ((TextContentBlock)prompt.Messages[0].Content).Text);
        var completion = await a.CompleteAsync(new PromptReference { Name = "ev2.completable-prompt" }, "department", "S");
        Assert.Equal(["Sales", "Support"], completion.Completion.Values);
        Assert.Equal(["1"], (await a.CompleteAsync(new ResourceTemplateReference { Uri = templates[0] }, "resourceId", "1")).Completion.Values);

        // Resource links in a tool's result are named the same way, so they can be read back.
        var links = await a.CallToolAsync("ev.get-resource-links", new Dictionary<string, object?> { ["count"] = 2 });
        var link = links.Content.OfType<ResourceLinkBlock>().First();
        Assert.StartsWith("mcp-broker://ev/demo://", link.Uri);
        Assert.NotEmpty((await a.ReadResourceAsync(link.Uri)).Contents);
        var embedded = (await a.CallToolAsync("ev2.get-resource-reference", new Dictionary<string, object?> { ["resourceId"] = 3 }))
            .Content.OfType<EmbeddedResourceBlock>().Single();
        Assert.Equal("mcp-broker://ev2/demo://resource/dynamic/text/3", embedded.Resource.Uri);

        // A shared upstream is not offered roots (it would apply one session's roots to all), so it offers no roots tool.
        Assert.DoesNotContain("ev.get-roots-list", (await a.ListToolsAsync()).Select(t => t.Name));

        // Names that lead nowhere say what a name looks like.
        var unknown = await Assert.ThrowsAsync<McpProtocolException>(() => a.ReadResourceAsync("demo://resource/static/document/architecture.md").AsTask());
        Assert.Equal(McpErrorCode.ResourceNotFound, unknown.ErrorCode);
        Assert.Contains("the broker names resources mcp-broker://PREFIX/URI", unknown.Message);
        var noPrompt = await Assert.ThrowsAsync<McpProtocolException>(() => a.GetPromptAsync("nobody.simple-prompt").AsTask());
        Assert.Contains("no prompt named 'nobody.simple-prompt' in profile 'raw'", noPrompt.Message);

        // An update of a subscribed resource reaches the session that subscribed, under the name it subscribed by, and no other.
        var updatesA = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var updatesB = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var onA = a.RegisterNotificationHandler(NotificationMethods.ResourceUpdatedNotification, (n, _) => { updatesA.Enqueue(n.Params!["uri"]!.GetValue<string>()); return ValueTask.CompletedTask; });
        await using var onB = b.RegisterNotificationHandler(NotificationMethods.ResourceUpdatedNotification, (n, _) => { updatesB.Enqueue(n.Params!["uri"]!.GetValue<string>()); return ValueTask.CompletedTask; });
        var watched = "mcp-broker://ev/demo://resource/static/document/architecture.md";
        await a.SubscribeToResourceAsync(watched);
        await b.CallToolAsync("ev.echo", new Dictionary<string, object?> { ["message"] = "b uses ev too" });
        await a.CallToolAsync("ev.toggle-subscriber-updates");
        await Wait.UntilAsync(() => updatesA.Contains(watched), "the resource update to reach the subscribed session");
        await b.CallToolAsync("ev.echo", new Dictionary<string, object?> { ["message"] = "anything for b?" });
        Assert.Empty(updatesB);

        // A restarted upstream is subscribed again: the updates keep coming.
        Assert.Equal(0, (await env.RunCliAsync("upstream", "restart", "ev", "--config", env.ConfigPath)).ExitCode);
        updatesA.Clear();
        await a.CallToolAsync("ev.toggle-subscriber-updates");
        await Wait.UntilAsync(() => updatesA.Contains(watched), "the resource update to reach the subscribed session after a restart");
        await a.UnsubscribeFromResourceAsync(watched);
        await a.CallToolAsync("ev.toggle-subscriber-updates");
    }

    [Fact]
    public async Task ACompactProfile_ReachesResourcesAndPrompts_ThroughUnlistedBrokerTools_FoundBySearch()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: {}
            upstreams:
              ev: { command: "{{Repo.NodeBin("mcp-server-everything")}}" }
            """);
        var client = await env.ConnectAsync("default", Protocol);

        // A compact session declares no resources or prompts (a client would list them at connect, starting every upstream).
        Assert.Null(client.ServerCapabilities.Resources);
        Assert.Null(client.ServerCapabilities.Prompts);
        Assert.Equal(4, (await client.ListToolsAsync()).Count);

        var found = await BrokerEnvironment.CallJsonAsync(client, "broker.search_tools", new() { ["query"] = "read a resource document" });
        var names = found.GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("broker.read_resource", names);
        Assert.Contains("broker.list_resources", names);
        var described = await BrokerEnvironment.CallJsonAsync(client, "broker.describe_tool", new() { ["name"] = "broker.read_resource" });
        Assert.Equal("uri", described.GetProperty("inputSchema").GetProperty("required")[0].GetString());

        var listed = await BrokerEnvironment.CallJsonAsync(client, "broker.call_tool", new() { ["name"] = "broker.list_resources" });
        var uri = "mcp-broker://ev/demo://resource/static/document/architecture.md";
        Assert.Contains(listed.GetProperty("resources").EnumerateArray(), r => r.GetProperty("uri").GetString() == uri);
        Assert.Contains(listed.GetProperty("templates").EnumerateArray(), t => t.GetProperty("uriTemplate").GetString() == "mcp-broker://ev/demo://resource/dynamic/text/{resourceId}");

        var read = await client.CallToolAsync("broker.call_tool", new Dictionary<string, object?> { ["name"] = "broker.read_resource", ["arguments"] = new { uri } });
        Assert.NotEqual(true, read.IsError);
        var embedded = Assert.IsType<EmbeddedResourceBlock>(Assert.Single(read.Content));
        Assert.Equal(uri, embedded.Resource.Uri);
        Assert.Contains("Architecture", ((TextResourceContents)embedded.Resource).Text, StringComparison.OrdinalIgnoreCase);

        var prompts = await BrokerEnvironment.CallJsonAsync(client, "broker.call_tool", new() { ["name"] = "broker.list_prompts" });
        Assert.Contains(prompts.GetProperty("prompts").EnumerateArray(), p => p.GetProperty("name").GetString() == "ev.args-prompt");
        var prompt = await BrokerEnvironment.CallJsonAsync(client, "broker.call_tool", new() { ["name"] = "broker.get_prompt", ["arguments"] = new { name = "ev.args-prompt", arguments = new { city = "Oslo" } } });
        Assert.Contains("Oslo", prompt.GetProperty("messages")[0].GetProperty("content").GetProperty("text").GetString());

        var wrong = await client.CallToolAsync("broker.call_tool", new Dictionary<string, object?> { ["name"] = "broker.read_resource", ["arguments"] = new { uri = "demo://resource/static/document/architecture.md" } });
        Assert.True(wrong.IsError);
        Assert.Equal("invalid_arguments", BrokerEnvironment.ErrorOf(wrong).GetProperty("code").GetString());
        Assert.Contains("use a name exactly as broker.list_resources gave it", BrokerEnvironment.ErrorOf(wrong).GetProperty("hint").GetString());
    }

    /// <summary>Every feature server-everything offers, each result as JSON.</summary>
    private static async Task<JsonObject> ExerciseAsync(McpClient client)
    {
        var results = new JsonObject();
        // server-everything stamps generated resources with the time of day: the one thing that may differ.
        void Record(string feature, object? value) => results[feature] = JsonNode.Parse(System.Text.RegularExpressions.Regex.Replace(
            JsonSerializer.Serialize(value, McpJsonUtilities.DefaultOptions), @"\b\d{1,2}:\d{2}:\d{2}\s?[AP]M\b", "TIME"));

        var tools = (await client.ListToolsAsync()).Select(t => t.ProtocolTool).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        Record("tools/list", tools);
        Record("tools/call echo", await client.CallToolAsync("echo", new Dictionary<string, object?> { ["message"] = "through" }));
        Record("tools/call get-sum", await client.CallToolAsync("get-sum", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 40 }));
        Record("tools/call get-structured-content", await client.CallToolAsync("get-structured-content", new Dictionary<string, object?> { ["location"] = "New York" }));
        Record("tools/call get-tiny-image", await client.CallToolAsync("get-tiny-image"));

        // Read off the wire: the SDK's IProgress drops notifications that are handled after the response.
        var progress = new List<double>();
        await using var onProgress = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (n, _) =>
        {
            lock (progress)
            {
                progress.Add(n.Params!["progress"]!.GetValue<double>());
            }

            return ValueTask.CompletedTask;
        });
        var longRun = await client.CallToolAsync("trigger-long-running-operation", new Dictionary<string, object?> { ["duration"] = 0, ["steps"] = 5 },
            new Progress<ProgressNotificationValue>(_ => { }));
        Record("tools/call trigger-long-running-operation", longRun);
        await Wait.UntilAsync(() => { lock (progress) { return progress.Count == 5; } }, "5 progress notifications");
        lock (progress)
        {
            Record("progress", progress.Order().ToList());
        }

        Record("sampling (trigger-sampling-request)", await client.CallToolAsync("trigger-sampling-request", new Dictionary<string, object?> { ["prompt"] = "why?", ["maxTokens"] = 5 }));
        Record("elicitation (trigger-elicitation-request)", await client.CallToolAsync("trigger-elicitation-request"));
        Record("roots (get-roots-list)", await client.CallToolAsync("get-roots-list"));

        var resources = await client.ListResourcesAsync(new ListResourcesRequestParams());
        Record("resources/list (first page)", resources);
        var templates = await client.ListResourceTemplatesAsync(new ListResourceTemplatesRequestParams());
        Record("resources/templates/list", templates);
        var first = resources.Resources[0].Uri;
        Record("resources/read static", await client.ReadResourceAsync(first));
        var template = templates.ResourceTemplates[0].UriTemplate;
        Record("resources/read templated", await client.ReadResourceAsync(template.Replace("{resourceId}", "1", StringComparison.Ordinal)));
        await client.SubscribeToResourceAsync(first);
        await client.UnsubscribeFromResourceAsync(first);
        Record("resources/subscribe then unsubscribe", "ok");
        Record("resources/read unknown", await ErrorOfAsync(() => client.ReadResourceAsync("demo://resource/no/such/thing").AsTask()));

        Record("prompts/list", await client.ListPromptsAsync(new ListPromptsRequestParams()));
        Record("prompts/get simple-prompt", await client.GetPromptAsync("simple-prompt"));
        Record("prompts/get args-prompt", await client.GetPromptAsync("args-prompt", new Dictionary<string, object?> { ["city"] = "Oslo", ["state"] = "Viken" }));
        Record("prompts/get unknown", await ErrorOfAsync(() => client.GetPromptAsync("no-such-prompt").AsTask()));

        Record("completion prompt", await client.CompleteAsync(new PromptReference { Name = "completable-prompt" }, "department", "E"));
        Record("completion prompt with context", await client.CompleteAsync(new CompleteRequestParams
        {
            Ref = new PromptReference { Name = "completable-prompt" },
            Argument = new Argument { Name = "name", Value = "" },
            Context = new CompleteContext { Arguments = new Dictionary<string, string> { ["department"] = "Sales" } },
        }));
        Record("completion resource template", await client.CompleteAsync(new ResourceTemplateReference { Uri = template }, "resourceId", "1"));
        return results;
    }

    /// <summary>The first place two JSON values differ, with both values there.</summary>
    private static string Difference(JsonNode? a, JsonNode? b, string path)
    {
        switch (a, b)
        {
            case (JsonObject x, JsonObject y):
                foreach (var key in x.Select(p => p.Key).Union(y.Select(p => p.Key)))
                {
                    if (!JsonNode.DeepEquals(x[key], y[key]))
                    {
                        return Difference(x[key], y[key], $"{path}.{key}");
                    }
                }

                break;
            case (JsonArray x, JsonArray y) when x.Count == y.Count:
                for (var i = 0; i < x.Count; i++)
                {
                    if (!JsonNode.DeepEquals(x[i], y[i]))
                    {
                        return Difference(x[i], y[i], $"{path}[{i}]");
                    }
                }

                break;
            case (JsonArray x, JsonArray y):
                var only = (JsonArray from, JsonArray other) => string.Join("\n  ", from.Where(e => !other.Any(o => JsonNode.DeepEquals(e, o))).Select(e => e?.ToJsonString()));
                return $"at {path}: {x.Count} direct, {y.Count} through the broker\nonly direct:\n  {only(x, y)}\nonly through the broker:\n  {only(y, x)}";
        }

        return $"at {path}\ndirect: {a?.ToJsonString() ?? "(none)"}\nbroker: {b?.ToJsonString() ?? "(none)"}";
    }

    private static async Task<string> ErrorOfAsync(Func<Task> action)
    {
        var error = await Assert.ThrowsAsync<McpProtocolException>(action);
        return $"{error.ErrorCode}: {error.Message}";
    }

    /// <summary>What the broker offers every upstream (form and URL elicitation), so the server shows the same tools both ways.</summary>
    private static ClientCapabilities Capabilities() => new() { Elicitation = new ElicitationCapability { Form = new(), Url = new() } };

#pragma warning disable MCP9005 // sampling and roots are deprecated from protocol 2026-07-28; server-everything still uses them
    private static McpClientHandlers Handlers() => new()
    {
        SamplingHandler = (request, _, _) => ValueTask.FromResult(new CreateMessageResult
        {
            Model = "test-model",
            Role = Role.Assistant,
            Content = [new TextContentBlock { Text = $"sampled {request!.Messages.Count} message(s), up to {request.MaxTokens} tokens" }],
        }),
        ElicitationHandler = (request, _) => ValueTask.FromResult(new ElicitResult
        {
            Action = "accept",
            Content = new Dictionary<string, JsonElement> { ["name"] = JsonSerializer.SerializeToElement("Ada") },
        }),
        RootsHandler = (_, _) => ValueTask.FromResult(new ListRootsResult { Roots = [new Root { Uri = "file:///work/project", Name = "project" }] }),
    };
#pragma warning restore MCP9005
}
