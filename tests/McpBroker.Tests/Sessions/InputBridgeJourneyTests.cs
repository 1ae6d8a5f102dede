using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// Server-to-client requests between the protocol eras, through the real daemon with the conformance fixture server as
/// the upstream: a 2026-07-28 client (raw JSON-RPC, so the wire is seen as it is) is answered <c>input_required</c> for what
/// an upstream of either era asks, and its retry answers the upstream — through the shim (a stateful stream) and through the
/// HTTP front door (stateless requests); a 2025-11-25 client of a 2026-07-28 upstream is sent the real request; on a
/// shared upstream each question goes to the session whose call caused it.
/// </summary>
public sealed class InputBridgeJourneyTests
{
    private const string Meta = """
        {"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw-2026","version":"1"},
         "io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}},"sampling":{}}}
        """;

    private static Func<string, string> Config(string era, int? port = null) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m{{(port is null ? "" : $", http: {{ listen: \"127.0.0.1:{port}\" }}")}} }
        profiles:
          raw: { compact_tools_enabled: false, allow_mutating_upstreams: [c] }
        upstreams:
          c: { command: "{{Repo.ConformanceServer}}", args: [{{era}}] }
        """;

    [Theory]
    [InlineData("\"--session-revision\", \"2025-11-25\"")]
    [InlineData("\"--stateless-only\"")] // the upstream's own input_required is read by the broker's SDK client, whose question is bridged the same way
    public async Task StatelessClient_GetsInputRequiredForWhatTheUpstreamAsks_AndItsRetryAnswersIt_OverTheShimAndHttp(string era)
    {
        var port = LoopbackServer.FreePort();
        await using var env = await BrokerEnvironment.CreateAsync(Config(era, port));
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        await using var shim = RawShim.Start(env, "raw");
        using var http = new RawHttp($"http://127.0.0.1:{port}/mcp/raw", (await File.ReadAllTextAsync(Path.Combine(env.Root, "secrets", "http-token"))).Trim());

        foreach (var (door, send) in new (string, Func<JsonObject, Task<JsonObject>>)[] { ("shim", shim.RequestAsync), ("http", http.RequestAsync) })
        {
            // Elicitation: the upstream's elicitation/create comes back as the call's input request.
            var first = await send(Call(1, "c.test_elicitation", new JsonObject { ["message"] = "who are you?" }));
            var (key, state, asked) = InputRequired(first, door);
            Assert.Equal("elicitation/create", asked["method"]!.GetValue<string>());
            Assert.Equal("who are you?", asked["params"]!["message"]!.GetValue<string>());
            Assert.DoesNotContain("conformance", state);

            var answered = await send(Call(2, "c.test_elicitation", new JsonObject { ["message"] = "who are you?" }, state, new JsonObject
            {
                [key] = new JsonObject { ["action"] = "accept", ["content"] = new JsonObject { ["username"] = $"ada-{door}", ["email"] = "ada@example.org" } },
            }));
            Assert.Contains($"User response: action=accept, content={{\"username\":\"ada-{door}\"", Text(answered, door));

            // A requestState is good for one retry.
            var replayed = await send(Call(3, "c.test_elicitation", new JsonObject { ["message"] = "again" }, state, new JsonObject()));
            Assert.Contains("requestState is unknown or has expired", replayed["error"]?["message"]?.GetValue<string>() ?? replayed.ToJsonString());

            // Sampling the same way.
            (key, state, asked) = InputRequired(await send(Call(4, "c.test_sampling", new JsonObject { ["prompt"] = "say hi" })), door);
            Assert.Equal("sampling/createMessage", asked["method"]!.GetValue<string>());
            var sampled = await send(Call(5, "c.test_sampling", new JsonObject { ["prompt"] = "say hi" }, state, new JsonObject
            {
                [key] = new JsonObject { ["role"] = "assistant", ["model"] = "m", ["content"] = new JsonObject { ["type"] = "text", ["text"] = $"hi from {door}" } },
            }));
            Assert.Equal($"LLM response: hi from {door}", Text(sampled, door));
        }

        Assert.Empty(await RunningCallsAsync(env));
    }

    [Fact]
    public async Task SessionEraClient_OfAStatelessUpstream_IsSentTheRealRequests_AndTheBrokerRetriesUpstreamWithTheAnswers()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("\"--stateless-only\""));
        var asked = new List<string>();
#pragma warning disable MCP9005 // sampling is deprecated from protocol 2026-07-28; the broker must still relay it
        var client = await env.ConnectAsync("raw", protocolVersion: "2025-11-25", handlers: new McpClientHandlers
        {
            ElicitationHandler = (request, _) =>
            {
                asked.Add($"elicitation/create: {request!.Message}");
                return ValueTask.FromResult(new ElicitResult { Action = "accept", Content = new Dictionary<string, System.Text.Json.JsonElement>
                {
                    ["username"] = System.Text.Json.JsonSerializer.SerializeToElement("grace"),
                    ["email"] = System.Text.Json.JsonSerializer.SerializeToElement("grace@example.org"),
                } });
            },
            SamplingHandler = (request, _, _) =>
            {
                asked.Add($"sampling/createMessage: {((TextContentBlock)request!.Messages[0].Content[0]).Text}");
                return ValueTask.FromResult(new CreateMessageResult { Model = "m", Role = Role.Assistant, Content = [new TextContentBlock { Text = "hello back" }] });
            },
        });
#pragma warning restore MCP9005
        Assert.Equal("2025-11-25", client.NegotiatedProtocolVersion);

        Assert.Contains("User response: action=accept, content={\"username\":\"grace\"",
            await BrokerEnvironment.CallTextAsync(client, "c.test_elicitation", new() { ["message"] = "name?" }));
        Assert.Equal("LLM response: hello back", await BrokerEnvironment.CallTextAsync(client, "c.test_sampling", new() { ["prompt"] = "hi" }));
        Assert.Equal(["elicitation/create: name?", "sampling/createMessage: hi"], asked);
        Assert.Equal("2026-07-28", (await BrokerEnvironment.UpstreamStatusAsync(client)).Single().GetProperty("protocol").GetString());
    }

    [Fact]
    public async Task SharedUpstream_TwoStatelessEraSessions_EachQuestionGoesToTheSessionThatCausedIt()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("\"--session-revision\", \"2025-11-25\""));
        McpClientHandlers Answering(string who) => new()
        {
            ElicitationHandler = (_, _) => ValueTask.FromResult(new ElicitResult
            {
                Action = "accept",
                Content = new Dictionary<string, System.Text.Json.JsonElement>
                {
                    ["username"] = System.Text.Json.JsonSerializer.SerializeToElement(who),
                    ["email"] = System.Text.Json.JsonSerializer.SerializeToElement($"{who}@example.org"),
                },
            }),
        };

        // The SDK's own 2026-07-28 client: it reads input_required and retries by itself.
        var a = await env.ConnectAsync("raw", handlers: Answering("a"));
        var b = await env.ConnectAsync("raw", handlers: Answering("b"));
        Assert.Equal("2026-07-28", a.NegotiatedProtocolVersion);
        foreach (var (client, who) in new[] { (a, "a"), (b, "b"), (a, "a"), (b, "b") })
        {
            Assert.Contains($"\"username\":\"{who}\"", await BrokerEnvironment.CallTextAsync(client, "c.test_elicitation", new() { ["message"] = who }));
        }

        Assert.Equal("2025-11-25", Assert.Single(await BrokerEnvironment.UpstreamStatusAsync(a)).GetProperty("protocol").GetString());
    }

    private static async Task<List<System.Text.Json.JsonElement>> RunningCallsAsync(BrokerEnvironment env)
    {
        var status = System.Text.Json.JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement;
        return [.. status.GetProperty("upstreams").EnumerateArray().Where(u => u.GetProperty("in_flight").GetInt32() > 0)];
    }

    private static JsonObject Call(int id, string tool, JsonObject arguments, string? state = null, JsonObject? responses = null)
    {
        var parameters = new JsonObject { ["name"] = tool, ["arguments"] = arguments, ["_meta"] = JsonNode.Parse(Meta) };
        if (state is not null)
        {
            parameters["requestState"] = state;
            parameters["inputResponses"] = responses;
        }

        return new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = "tools/call", ["params"] = parameters };
    }

    private static (string Key, string State, JsonObject Asked) InputRequired(JsonObject response, string door)
    {
        var result = response["result"] as JsonObject ?? throw new Xunit.Sdk.XunitException($"{door}: no result in {response.ToJsonString()}");
        Assert.True(result["resultType"]?.GetValue<string>() == "input_required", $"{door}: {result.ToJsonString()}");
        var (key, asked) = Assert.Single((JsonObject)result["inputRequests"]!);
        return (key, result["requestState"]!.GetValue<string>(), (JsonObject)asked!);
    }

    private static string Text(JsonObject response, string door)
    {
        var result = response["result"] as JsonObject ?? throw new Xunit.Sdk.XunitException($"{door}: no result in {response.ToJsonString()}");
        Assert.True(result["isError"]?.GetValue<bool>() is not true, $"{door}: {result.ToJsonString()}");
        return result["content"]![0]!["text"]!.GetValue<string>();
    }

    /// <summary>A client posting each request on its own, as a 2026-07-28 client over HTTP does (no session).</summary>
    private sealed class RawHttp(string url, string token) : IDisposable
    {
        private readonly HttpClient _http = new();

        public async Task<JsonObject> RequestAsync(JsonObject request)
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json") };
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            post.Headers.Accept.ParseAdd("application/json");
            post.Headers.Accept.ParseAdd("text/event-stream");
            post.Headers.Add("MCP-Protocol-Version", "2026-07-28");
            post.Headers.Add("Mcp-Method", request["method"]!.GetValue<string>());
            post.Headers.Add("Mcp-Name", request["params"]!["name"]!.GetValue<string>());
            using var response = await _http.SendAsync(post).WaitAsync(Wait.Timeout);
            var body = await response.Content.ReadAsStringAsync();
            var messages = response.Content.Headers.ContentType?.MediaType == "text/event-stream"
                ? body.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal)).Select(l => JsonNode.Parse(l[5..]))
                : [JsonNode.Parse(body)];
            return messages.OfType<JsonObject>().FirstOrDefault(m => m["id"]?.ToJsonString() == request["id"]!.ToJsonString())
                ?? throw new Xunit.Sdk.XunitException($"HTTP {(int)response.StatusCode}: {body}");
        }

        public void Dispose() => _http.Dispose();
    }
}
