using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Upstreams;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Config;

/// <summary>
/// The daemon's one masking step. Its set of values is process-wide, so each test masks values of its own (a fresh
/// suffix), which no other test's text can contain.
/// </summary>
public sealed class SecretMaskTests
{
    private static string Fresh(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Fact]
    public void Mask_Text_ReplacesEveryKnownValue_TheLongestWhole_AndLeavesOtherTextTheSameInstance()
    {
        var token = Fresh("tok");
        var header = "Bearer " + token;
        SecretMask.Add(token, header);

        Assert.Equal("a=*** b=*** c=***!", SecretMask.Mask($"a={token} b={header} c={token}!"));
        var clean = "nothing secret here, " + token[..10];
        Assert.Same(clean, SecretMask.Mask(clean));
    }

    [Fact]
    public void Add_ValuesShorterThanTheMinimum_AreNotMasked()
    {
        var shortValue = Guid.NewGuid().ToString("N")[..(SecretMask.MinimumLength - 1)];
        SecretMask.Add(shortValue, null, "");

        Assert.Equal($"x {shortValue} y", SecretMask.Mask($"x {shortValue} y"));
    }

    [Fact]
    public void Mask_Json_ReplacesStringsAndPropertyNamesAtAnyDepth_ParsedOrBuilt()
    {
        var secret = Fresh("json-secret");
        SecretMask.Add(secret);
        var tree = JsonNode.Parse($$"""{"a":["x {{secret}} y",{"{{secret}}":1,"n":2,"b":true}],"c":"{{secret}}"}""")!;
        tree["built"] = new JsonObject { ["v"] = $"built {secret}" };

        var masked = SecretMask.Mask(tree)!;

        Assert.Equal("""{"a":["x *** y",{"***":1,"n":2,"b":true}],"c":"***","built":{"v":"built ***"}}""", masked.ToJsonString());
        Assert.Equal("***", SecretMask.Mask(JsonValue.Create(secret))!.GetValue<string>());
    }

    [Fact]
    public void Mask_Messages_ToAClient_MasksResultsErrorsAndParams()
    {
        var secret = Fresh("msg-secret");
        SecretMask.Add(secret);
        var response = new JsonRpcResponse { Id = new RequestId(1), Result = new JsonObject { ["content"] = new JsonArray(new JsonObject { ["text"] = secret }) } };
        var error = new JsonRpcError
        {
            Id = new RequestId(2),
            Error = new JsonRpcErrorDetail { Code = -32603, Message = $"failed: {secret}", Data = JsonSerializer.SerializeToElement(new { why = secret }) },
        };
        var notification = new JsonRpcNotification { Method = "notifications/message", Params = new JsonObject { ["data"] = secret } };
        var request = new JsonRpcRequest { Id = new RequestId(3), Method = "sampling/createMessage", Params = new JsonObject { ["text"] = secret } };

        foreach (JsonRpcMessage message in new JsonRpcMessage[] { response, error, notification, request })
        {
            SecretMask.Mask(message);
            var wire = JsonSerializer.Serialize(message, ModelContextProtocol.McpJsonUtilities.DefaultOptions);
            Assert.DoesNotContain(secret, wire, StringComparison.Ordinal);
            Assert.Contains("***", wire, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void FileLog_Lines_MaskTheMessageTheNamedValuesAndTheException()
    {
        var secret = Fresh("log-secret");
        SecretMask.Add(secret);
        IReadOnlyList<KeyValuePair<string, object?>> state = [new("Reason", $"server said {secret}"), new("{OriginalFormat}", "Failed: {Reason}")];

        var line = FileLoggerProvider.Format(DateTimeOffset.UnixEpoch, LogLevel.Warning, "ModelContextProtocol.Client", new EventId(7), state,
            $"Failed: server said {secret}", new InvalidOperationException($"body: {secret}"));

        Assert.DoesNotContain(secret, line, StringComparison.Ordinal);
        var json = JsonDocument.Parse(line).RootElement;
        Assert.Equal("Failed: server said ***", json.GetProperty("message").GetString());
        Assert.Equal("server said ***", json.GetProperty("reason").GetString());
        Assert.Equal("InvalidOperationException: body: ***", json.GetProperty("exception").GetString());
    }

    [Fact]
    public void MaskingLoggerProvider_WrapsALoggerWeDoNotOwn_MessageAndExceptionMasked()
    {
        var secret = Fresh("console-secret");
        SecretMask.Add(secret);
        var inner = new RecordingProvider();
        using var provider = new MaskingLoggerProvider(inner);

        provider.CreateLogger("ModelContextProtocol").LogWarning(new HttpRequestException($"500: {secret}"), "Request failed: {Body}", secret);

        var (message, exception) = Assert.Single(inner.Lines);
        Assert.Equal("Request failed: ***", message);
        Assert.DoesNotContain(secret, exception, StringComparison.Ordinal);
        Assert.Contains("500: ***", exception, StringComparison.Ordinal);
    }

    private sealed class RecordingProvider : ILoggerProvider, ILogger
    {
        public List<(string Message, string Exception)> Lines { get; } = [];

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((formatter(state, exception), exception?.ToString() ?? ""));

        public void Dispose()
        {
        }
    }
}
