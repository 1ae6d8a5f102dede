using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.ConformanceServer;

/// <summary>
/// Every fixture the conformance suite's server scenarios call, as low-level handlers so that what goes on the wire
/// (schemas, content blocks, the elicitation schemas of SEP-1034 and SEP-1330) is exactly what the scenarios expect.
/// </summary>
internal static class Fixtures
{
    // A 1x1 PNG and a short silent WAV: the scenarios check types and MIME types, not pixels or samples.
    private static readonly byte[] Png = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==");

    private static readonly byte[] Wav = SilentWav(8000, 800);

    private static readonly JsonElement NoArguments = Schema("""{"type":"object","properties":{}}""");

    private static readonly Tool[] Tools =
    [
        Tool("test_simple_text", "Returns simple text content"),
        Tool("test_image_content", "Returns image content"),
        Tool("test_audio_content", "Returns audio content"),
        Tool("test_embedded_resource", "Returns an embedded resource"),
        Tool("test_multiple_content_types", "Returns text, image and resource content"),
        Tool("test_tool_with_logging", "Sends three log messages while it runs"),
        Tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100 while it runs"),
        Tool("test_error_handling", "Always fails with an error result"),
        Tool("test_sampling", "Asks the client to sample a reply to the prompt",
            """{"type":"object","properties":{"prompt":{"type":"string","description":"The prompt to send to the LLM"}},"required":["prompt"]}"""),
        Tool("test_elicitation", "Asks the user for a username and an email",
            """{"type":"object","properties":{"message":{"type":"string","description":"The message to show the user"}},"required":["message"]}"""),
        Tool("test_elicitation_sep1034_defaults", "Elicitation with a default for every primitive type (SEP-1034)"),
        Tool("test_elicitation_sep1330_enums", "Elicitation with the five enum variants (SEP-1330)"),
        Tool("test_reconnection", "Closes the SSE stream in the middle of the call; the result comes on the resumed stream (SEP-1699)"),
        Tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", """
            {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
             "$defs":{"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
             "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"}},"additionalProperties":false}
            """),
    ];

    private static readonly Resource[] Resources =
    [
        new() { Uri = "test://static-text", Name = "static-text", Description = "A static text resource", MimeType = "text/plain" },
        new() { Uri = "test://static-binary", Name = "static-binary", Description = "A static binary resource (a PNG)", MimeType = "image/png" },
        new() { Uri = "test://watched-resource", Name = "watched-resource", Description = "A resource to subscribe to", MimeType = "text/plain" },
    ];

    private static readonly Prompt[] Prompts =
    [
        new() { Name = "test_simple_prompt", Description = "A prompt without arguments" },
        new()
        {
            Name = "test_prompt_with_arguments", Description = "A prompt with two arguments",
            Arguments = [new() { Name = "arg1", Description = "First test argument", Required = true }, new() { Name = "arg2", Description = "Second test argument", Required = true }],
        },
        new()
        {
            Name = "test_prompt_with_embedded_resource", Description = "A prompt embedding a resource",
            Arguments = [new() { Name = "resourceUri", Description = "URI of the resource to embed", Required = true }],
        },
        new() { Name = "test_prompt_with_image", Description = "A prompt with an image" },
    ];

    private static readonly string[] Completions = ["paris", "park", "party"];

    /// <summary>Fills in the fixtures; HTTP calls this once per session, so subscriptions are per session.</summary>
    public static void Configure(McpServerOptions options)
    {
        var subscribed = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        options.ServerInfo = new Implementation { Name = "mcp-conformance-server", Version = "1.0.0" };
        options.Capabilities = new ServerCapabilities
        {
            Tools = new ToolsCapability { ListChanged = true },
            Resources = new ResourcesCapability { Subscribe = true, ListChanged = true },
            Prompts = new PromptsCapability { ListChanged = true },
            Logging = new LoggingCapability(),
            Completions = new CompletionsCapability(),
        };
        options.Handlers = new McpServerHandlers
        {
            ListToolsHandler = (_, _) => ValueTask.FromResult(new ListToolsResult { Tools = Tools }),
            CallToolHandler = CallToolAsync,
            ListResourcesHandler = (_, _) => ValueTask.FromResult(new ListResourcesResult { Resources = Resources }),
            ListResourceTemplatesHandler = (_, _) => ValueTask.FromResult(new ListResourceTemplatesResult
            {
                ResourceTemplates = [new() { UriTemplate = "test://template/{id}/data", Name = "template-data", Description = "Data for an id", MimeType = "application/json" }],
            }),
            ReadResourceHandler = (request, _) => ValueTask.FromResult(Read(request.Params!.Uri)),
            SubscribeToResourcesHandler = (request, _) =>
            {
                subscribed[request.Params!.Uri] = true;
                return ValueTask.FromResult(new EmptyResult());
            },
            UnsubscribeFromResourcesHandler = (request, _) =>
            {
                subscribed.TryRemove(request.Params!.Uri, out var _);
                return ValueTask.FromResult(new EmptyResult());
            },
            ListPromptsHandler = (_, _) => ValueTask.FromResult(new ListPromptsResult { Prompts = Prompts }),
            GetPromptHandler = (request, _) => ValueTask.FromResult(GetPrompt(request.Params!.Name, request.Params.Arguments)),
            CompleteHandler = (request, _) =>
            {
                var prefix = request.Params?.Argument.Value ?? "";
                var values = Completions.Where(v => v.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                return ValueTask.FromResult(new CompleteResult { Completion = new() { Values = values, Total = values.Count, HasMore = false } });
            },
        };
    }

    private static async ValueTask<CallToolResult> CallToolAsync(RequestContext<CallToolRequestParams> request, CancellationToken ct)
    {
        var server = request.Server;
        var arguments = request.Params?.Arguments ?? new Dictionary<string, JsonElement>();
        string Text(string key) => arguments.TryGetValue(key, out var v) ? v.ToString() : "";
        switch (request.Params?.Name)
        {
            case "test_simple_text":
                return Result(new TextContentBlock { Text = "This is a simple text response for testing." });
            case "test_image_content":
                return Result(ImageContentBlock.FromBytes(Png, "image/png"));
            case "test_audio_content":
                return Result(AudioContentBlock.FromBytes(Wav, "audio/wav"));
            case "test_embedded_resource":
                return Result(new EmbeddedResourceBlock
                {
                    Resource = new TextResourceContents { Uri = "test://embedded-resource", MimeType = "text/plain", Text = "This is an embedded resource content." },
                });
            case "test_multiple_content_types":
                return Result(
                    new TextContentBlock { Text = "Multiple content types test:" },
                    ImageContentBlock.FromBytes(Png, "image/png"),
                    new EmbeddedResourceBlock
                    {
                        Resource = new TextResourceContents { Uri = "test://mixed-content-resource", MimeType = "application/json", Text = """{"test":"data","value":123}""" },
                    });
            case "test_tool_with_logging":
                // The pauses are the scenario's (log messages spread over the call), not synchronisation.
                await LogAsync(server, "Tool execution started", ct);
                await Task.Delay(50, ct);
                await LogAsync(server, "Tool processing data", ct);
                await Task.Delay(50, ct);
                await LogAsync(server, "Tool execution completed", ct);
                return Result(new TextContentBlock { Text = "Tool with logging executed successfully" });
            case "test_tool_with_progress":
                var token = request.Params.ProgressToken;
                for (var progress = 0; progress <= 100; progress += 50)
                {
                    if (progress > 0)
                    {
                        await Task.Delay(50, ct);
                    }

                    if (token is { } t)
                    {
                        await server.NotifyProgressAsync(t, new ProgressNotificationValue { Progress = progress, Total = 100 }, cancellationToken: ct);
                    }
                }

                return Result(new TextContentBlock { Text = "Tool with progress executed successfully" });
            case "test_error_handling":
                return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = "This tool intentionally returns an error for testing" }] };
            case "test_sampling":
                var sampled = await AskAsync(server, "sampling/createMessage", new JsonObject
                {
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new JsonObject { ["type"] = "text", ["text"] = Text("prompt") } }),
                    ["maxTokens"] = 100,
                }, ct);
                return Result(new TextContentBlock { Text = $"LLM response: {sampled?["content"]?["text"]}" });
            case "test_elicitation":
                var answer = await AskAsync(server, "elicitation/create", new JsonObject
                {
                    ["message"] = Text("message"),
                    ["requestedSchema"] = JsonNode.Parse("""
                        {"type":"object","properties":{"username":{"type":"string","description":"User's response"},
                         "email":{"type":"string","description":"User's email address"}},"required":["username","email"]}
                        """),
                }, ct);
                return Result(new TextContentBlock { Text = $"User response: action={answer?["action"]}, content={answer?["content"]?.ToJsonString()}" });
            case "test_elicitation_sep1034_defaults":
                return Elicited(await AskAsync(server, "elicitation/create", new JsonObject
                {
                    ["message"] = "Please review and update the form fields with defaults",
                    ["requestedSchema"] = JsonNode.Parse("""
                        {"type":"object","properties":{
                         "name":{"type":"string","description":"User name","default":"John Doe"},
                         "age":{"type":"integer","description":"User age","default":30},
                         "score":{"type":"number","description":"User score","default":95.5},
                         "status":{"type":"string","description":"User status","enum":["active","inactive","pending"],"default":"active"},
                         "verified":{"type":"boolean","description":"Verification status","default":true}}}
                        """),
                }, ct));
            case "test_elicitation_sep1330_enums":
                return Elicited(await AskAsync(server, "elicitation/create", new JsonObject
                {
                    ["message"] = "Please select options from the enum fields",
                    ["requestedSchema"] = JsonNode.Parse("""
                        {"type":"object","properties":{
                         "untitledSingle":{"type":"string","description":"Untitled single-select","enum":["option1","option2","option3"]},
                         "titledSingle":{"type":"string","description":"Titled single-select","oneOf":[
                           {"const":"value1","title":"First Option"},{"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]},
                         "legacyEnum":{"type":"string","description":"Legacy titled enum","enum":["opt1","opt2","opt3"],
                           "enumNames":["Option One","Option Two","Option Three"]},
                         "untitledMulti":{"type":"array","description":"Untitled multi-select","items":{"type":"string","enum":["option1","option2","option3"]}},
                         "titledMulti":{"type":"array","description":"Titled multi-select","items":{"anyOf":[
                           {"const":"value1","title":"First Choice"},{"const":"value2","title":"Second Choice"},{"const":"value3","title":"Third Choice"}]}}}}
                        """),
                }, ct));
            case "test_reconnection":
                try
                {
                    // Ends the POST's SSE stream now (HTTP with an event store): the client resumes with Last-Event-ID.
                    await request.EnablePollingAsync(TimeSpan.FromMilliseconds(500), ct);
                }
                catch (InvalidOperationException)
                {
                    // stdio has no streams to end: the result comes as usual.
                }

                return Result(new TextContentBlock { Text = "Reconnection test completed successfully" });
            case "json_schema_2020_12_tool":
                return Result(new TextContentBlock { Text = $"json_schema_2020_12_tool called with {JsonSerializer.Serialize(arguments, McpJsonUtilities.DefaultOptions)}" });
            default:
                throw new McpProtocolException($"Unknown tool: '{request.Params?.Name}'", McpErrorCode.InvalidParams);
        }
    }

    private static ReadResourceResult Read(string uri)
    {
        ResourceContents contents = uri switch
        {
            "test://static-text" => new TextResourceContents { Uri = uri, MimeType = "text/plain", Text = "This is the content of the static text resource." },
            "test://static-binary" => BlobResourceContents.FromBytes(Png, uri, "image/png"),
            "test://watched-resource" => new TextResourceContents { Uri = uri, MimeType = "text/plain", Text = "Watched resource content." },
            _ when uri.StartsWith("test://template/", StringComparison.Ordinal) && uri.EndsWith("/data", StringComparison.Ordinal) =>
                new TextResourceContents
                {
                    Uri = uri, MimeType = "application/json",
                    Text = new JsonObject { ["id"] = Id(uri), ["templateTest"] = true, ["data"] = $"Data for ID: {Id(uri)}" }.ToJsonString(),
                },
            _ => throw new McpProtocolException($"Resource not found: '{uri}'", McpErrorCode.ResourceNotFound),
        };
        return new ReadResourceResult { Contents = [contents] };

        static string Id(string uri) => uri["test://template/".Length..^"/data".Length];
    }

    private static GetPromptResult GetPrompt(string name, IDictionary<string, JsonElement>? arguments)
    {
        string Argument(string key) => arguments is not null && arguments.TryGetValue(key, out var v) ? v.ToString() : "";
        PromptMessage User(ContentBlock content) => new() { Role = Role.User, Content = content };
        return name switch
        {
            "test_simple_prompt" => new() { Messages = [User(new TextContentBlock { Text = "This is a simple prompt for testing." })] },
            "test_prompt_with_arguments" => new()
            {
                Messages = [User(new TextContentBlock { Text = $"Prompt with arguments: arg1='{Argument("arg1")}', arg2='{Argument("arg2")}'" })],
            },
            "test_prompt_with_embedded_resource" => new()
            {
                Messages =
                [
                    User(new EmbeddedResourceBlock
                    {
                        Resource = new TextResourceContents { Uri = Argument("resourceUri"), MimeType = "text/plain", Text = "Embedded resource content for testing." },
                    }),
                    User(new TextContentBlock { Text = "Please process the embedded resource above." }),
                ],
            },
            "test_prompt_with_image" => new()
            {
                Messages = [User(ImageContentBlock.FromBytes(Png, "image/png")), User(new TextContentBlock { Text = "Please analyze the image above." })],
            },
            _ => throw new McpProtocolException($"Unknown prompt: '{name}'", McpErrorCode.InvalidParams),
        };
    }

    /// <summary>A request to the client, sent as raw JSON so the schemas reach it exactly as written.</summary>
    private static async Task<JsonNode?> AskAsync(McpServer server, string method, JsonObject parameters, CancellationToken ct)
    {
        var response = await server.SendRequestAsync(new JsonRpcRequest { Method = method, Params = parameters }, ct);
        return response.Result;
    }

    private static CallToolResult Elicited(JsonNode? answer) =>
        Result(new TextContentBlock { Text = $"Elicitation completed: action={answer?["action"]}, content={answer?["content"]?.ToJsonString()}" });

    private static Task LogAsync(McpServer server, string message, CancellationToken ct) =>
        server.SendMessageAsync(new JsonRpcNotification
        {
            Method = NotificationMethods.LoggingMessageNotification,
            Params = new JsonObject { ["level"] = "info", ["logger"] = "conformance", ["data"] = message },
        }, ct);

    private static CallToolResult Result(params ContentBlock[] content) => new() { Content = content };

    private static Tool Tool(string name, string description, string? schema = null) =>
        new() { Name = name, Description = description, InputSchema = schema is null ? NoArguments : Schema(schema) };

    private static JsonElement Schema(string json) => JsonElement.Parse(json);

    /// <summary>A mono 16-bit PCM WAV of <paramref name="samples"/> silent samples.</summary>
    private static byte[] SilentWav(int rate, int samples)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        writer.Write("RIFF"u8);
        writer.Write(36 + (samples * 2));
        writer.Write("WAVEfmt "u8);
        writer.Write(16);
        writer.Write((short)1);
        writer.Write((short)1);
        writer.Write(rate);
        writer.Write(rate * 2);
        writer.Write((short)2);
        writer.Write((short)16);
        writer.Write("data"u8);
        writer.Write(samples * 2);
        writer.Write(new byte[samples * 2]);
        writer.Flush();
        return stream.ToArray();
    }
}
