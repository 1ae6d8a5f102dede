using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// Subscriptions across the eras, through the real daemon: the conformance fixture server as an upstream of each era (its
/// <c>test://watched-resource</c>), and the test upstream (2026-07-28) for a tool list that changes. A 2025-11-25 client's
/// <c>resources/subscribe</c> reaches a 2026-07-28 upstream (which has no such method) as the broker's listen stream to it;
/// a 2026-07-28 client's <c>subscriptions/listen</c> is served by the broker, acknowledged with what it granted and tagged
/// with the client's subscription id.
/// </summary>
public sealed class BrokerSessionListenJourneyTests
{
    private const string Meta = """
        {"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw-2026","version":"1"},
         "io.modelcontextprotocol/clientCapabilities":{}}
        """;

    private static Func<string, string> Config(string methods, int? port = null) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m{{(port is null ? "" : $", http: {{ listen: \"127.0.0.1:{port}\" }}")}} }
        profiles:
          raw: { compact_tools_enabled: false, allow_mutating_upstreams: [t] }
        upstreams:
          old: { command: "{{Repo.ConformanceServer}}", args: ["--session-revision", "2025-11-25"] }
          new: { command: "{{Repo.ConformanceServer}}", args: ["--stateless-only"] }
          t: { command: "{{Repo.TestUpstream}}", args: ["--record-methods", "{{methods}}"] }
        """;

    [Fact]
    public async Task SessionEraClient_SubscribesToResourcesOfBothEras_AndHearsAStatelessUpstreamsListChange()
    {
        var methods = Path.Combine(Directory.CreateTempSubdirectory("mb-methods-").FullName, "t.log");
        await using var env = await BrokerEnvironment.CreateAsync(Config(methods));
        var client = await env.ConnectAsync("raw", protocolVersion: "2025-11-25");

        foreach (var upstream in new[] { "old", "new" })
        {
            var watched = $"mcp-broker://{upstream}/test://watched-resource";
            await client.SubscribeToResourceAsync(watched);
            await client.UnsubscribeFromResourceAsync(watched);
        }

        // The 2026-07-28 test upstream is listened to from its start (its list changes come only on a listen stream).
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var onChange = client.RegisterNotificationHandler(NotificationMethods.ToolListChangedNotification, (_, _) => { changed.TrySetResult(); return ValueTask.CompletedTask; });
        Assert.Contains("t.add_tool", (await client.ListToolsAsync()).Select(t => t.Name));
        await Wait.UntilAsync(() => File.Exists(methods) && File.ReadAllLines(methods).Contains("subscriptions/listen"), "the broker to listen to the stateless upstream");
        await BrokerEnvironment.CallTextAsync(client, "t.add_tool", []);
        await changed.Task.WaitAsync(Wait.Timeout);
    }

    [Fact]
    public async Task StatelessClient_Listens_IsAcknowledgedWhatWasGranted_AndListChangesComeTaggedWithItsSubscriptionId()
    {
        var methods = Path.Combine(Directory.CreateTempSubdirectory("mb-methods-").FullName, "t.log");
        await using var env = await BrokerEnvironment.CreateAsync(Config(methods));
        await using var shim = RawShim.Start(env, "raw");
        string[] resources = ["mcp-broker://old/test://watched-resource", "mcp-broker://new/test://watched-resource"];

        _ = await shim.SendAsync(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = "listen-1",
            ["method"] = "subscriptions/listen",
            ["params"] = new JsonObject
            {
                ["notifications"] = new JsonObject
                {
                    ["toolsListChanged"] = true,
                    ["resourceSubscriptions"] = new JsonArray([.. resources.Append("mcp-broker://nobody/test://x").Select(r => (JsonNode)r)]),
                },
                ["_meta"] = JsonNode.Parse(Meta),
            },
        });

        var acknowledged = (JsonObject)(await shim.NotificationAsync("notifications/subscriptions/acknowledged"))["params"]!;
        Assert.Equal("listen-1", acknowledged["_meta"]!["io.modelcontextprotocol/subscriptionId"]!.GetValue<string>());
        Assert.Equal(resources, acknowledged["notifications"]!["resourceSubscriptions"]!.AsArray().Select(r => r!.GetValue<string>()));
        Assert.True(acknowledged["notifications"]!["toolsListChanged"]!.GetValue<bool>());

        var added = await shim.RequestAsync(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = 2,
            ["method"] = "tools/call",
            ["params"] = new JsonObject { ["name"] = "t.add_tool", ["arguments"] = new JsonObject(), ["_meta"] = JsonNode.Parse(Meta) },
        });
        Assert.Contains("now", added["result"]!["content"]![0]!["text"]!.GetValue<string>());
        var changed = await shim.NotificationAsync("notifications/tools/list_changed");
        Assert.Equal("listen-1", changed["params"]!["_meta"]!["io.modelcontextprotocol/subscriptionId"]!.GetValue<string>());

        // The client ends the subscription by cancelling the request; the session goes on.
        await shim.NotifyAsync(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["method"] = "notifications/cancelled",
            ["params"] = new JsonObject { ["requestId"] = "listen-1", ["_meta"] = JsonNode.Parse(Meta) },
        });
        var echoed = await shim.RequestAsync(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = 3,
            ["method"] = "tools/call",
            ["params"] = new JsonObject { ["name"] = "t.echo", ["arguments"] = new JsonObject { ["message"] = "still here" }, ["_meta"] = JsonNode.Parse(Meta) },
        });
        Assert.Equal("echo: still here", echoed["result"]!["content"]![0]!["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task StatelessClient_ListensOverHttp_OnItsOwnPost_AndAToolListChangeComesOnThatStreamTagged()
    {
        var methods = Path.Combine(Directory.CreateTempSubdirectory("mb-methods-").FullName, "t.log");
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(Config(methods, port));
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        var token = (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "http-token"))).Trim();
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        HttpRequestMessage Post(JsonObject message)
        {
            var post = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/mcp/raw") { Content = new StringContent(message.ToJsonString(), Encoding.UTF8, "application/json") };
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            post.Headers.Accept.ParseAdd("application/json");
            post.Headers.Accept.ParseAdd("text/event-stream");
            post.Headers.Add("MCP-Protocol-Version", "2026-07-28");
            post.Headers.Add("Mcp-Method", message["method"]!.GetValue<string>());
            if (message["params"]?["name"] is { } name)
            {
                post.Headers.Add("Mcp-Name", name.GetValue<string>());
            }

            return post;
        }

        using var listen = Post(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = 7,
            ["method"] = "subscriptions/listen",
            ["params"] = new JsonObject
            {
                ["notifications"] = new JsonObject { ["toolsListChanged"] = true, ["resourceSubscriptions"] = new JsonArray("mcp-broker://new/test://watched-resource") },
                ["_meta"] = JsonNode.Parse(Meta),
            },
        });
        using var cancel = new CancellationTokenSource(Wait.Timeout);
        using var stream = await http.SendAsync(listen, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(cancel.Token));
        async Task<JsonObject> NextAsync()
        {
            while (await reader.ReadLineAsync(cancel.Token) is { } line)
            {
                if (line.StartsWith("data:", StringComparison.Ordinal) && JsonNode.Parse(line[5..]) is JsonObject message)
                {
                    return message;
                }
            }

            throw new Xunit.Sdk.XunitException("the listen stream ended");
        }

        var acknowledged = await NextAsync();
        Assert.Equal("notifications/subscriptions/acknowledged", acknowledged["method"]!.GetValue<string>());
        Assert.Equal(7, acknowledged["params"]!["_meta"]!["io.modelcontextprotocol/subscriptionId"]!.GetValue<int>());
        Assert.Equal("mcp-broker://new/test://watched-resource", acknowledged["params"]!["notifications"]!["resourceSubscriptions"]![0]!.GetValue<string>());

        using var add = Post(new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = 8,
            ["method"] = "tools/call",
            ["params"] = new JsonObject { ["name"] = "t.add_tool", ["arguments"] = new JsonObject(), ["_meta"] = JsonNode.Parse(Meta) },
        });
        using var added = await http.SendAsync(add, cancel.Token);
        Assert.Contains("now", await added.Content.ReadAsStringAsync(cancel.Token));

        var changed = await NextAsync();
        Assert.Equal("notifications/tools/list_changed", changed["method"]!.GetValue<string>());
        Assert.Equal(7, changed["params"]!["_meta"]!["io.modelcontextprotocol/subscriptionId"]!.GetValue<int>());
    }

    [Fact]
    public async Task StatelessClient_ListeningToASessionEraUpstreamsResource_GetsItsUpdatesTaggedWithItsSubscriptionId()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false, allow_mutating_upstreams: [ev] }
            upstreams:
              ev: { command: "{{Repo.NodeBin("mcp-server-everything")}}" }
            """);
        await using var shim = RawShim.Start(env, "raw");
        const string watched = "mcp-broker://ev/demo://resource/static/document/architecture.md";
        JsonObject Request(JsonNode id, string method, JsonObject parameters)
        {
            parameters["_meta"] = JsonNode.Parse(Meta);
            return new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = method, ["params"] = parameters };
        }

        _ = await shim.SendAsync(Request("L", "subscriptions/listen", new JsonObject
        {
            ["notifications"] = new JsonObject { ["resourceSubscriptions"] = new JsonArray(watched) },
        }));
        var acknowledged = await shim.NotificationAsync("notifications/subscriptions/acknowledged");
        Assert.Equal(watched, acknowledged["params"]!["notifications"]!["resourceSubscriptions"]![0]!.GetValue<string>());

        // server-everything sends an update of each subscribed resource every few seconds while its updates are on.
        Assert.Null((await shim.RequestAsync(Request(1, "tools/call", new JsonObject { ["name"] = "ev.toggle-subscriber-updates", ["arguments"] = new JsonObject() })))["error"]);
        var updated = (await shim.NotificationAsync("notifications/resources/updated"))["params"]!;
        Assert.Equal(watched, updated["uri"]!.GetValue<string>());
        Assert.Equal("L", updated["_meta"]!["io.modelcontextprotocol/subscriptionId"]!.GetValue<string>());
        await shim.RequestAsync(Request(2, "tools/call", new JsonObject { ["name"] = "ev.toggle-subscriber-updates", ["arguments"] = new JsonObject() }));
    }
}
