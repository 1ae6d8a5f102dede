using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Journey;

/// <summary>
/// Subscriptions across the eras, through the real daemon: the conformance fixture server as an upstream of each era (its
/// <c>test://watched-resource</c>), and the test upstream (2026-07-28) for a tool list that changes. A 2025-11-25 client's
/// <c>resources/subscribe</c> reaches a 2026-07-28 upstream (which has no such method) as the broker's listen stream to it;
/// a 2026-07-28 client's <c>subscriptions/listen</c> is served by the broker, acknowledged with what it granted and tagged
/// with the client's subscription id.
/// </summary>
public sealed class SubscriptionEraTests
{
    private const string Meta = """
        {"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw-2026","version":"1"},
         "io.modelcontextprotocol/clientCapabilities":{}}
        """;

    private static Func<string, string> Config(string methods) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m }
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
}
