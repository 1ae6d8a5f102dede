using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;

namespace McpBroker.Bench;

/// <summary>
/// What the masking step (<see cref="SecretMask"/>) costs on the way out: an echo call's answer (every call pays this
/// when any secret is configured; nothing when none is) and a raw tools/list of 500 tools; and the context measure over
/// one 64 KB word, which the tokenizer alone took 6 s for (docs/reliability.md).
/// </summary>
[MemoryDiagnoser]
public class SecretMasking
{
    private JsonObject _echo = null!;
    private JsonObject _list = null!;
    private readonly string _word = new('x', 64 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        SecretMask.Add("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "Bearer sk-live-0123456789abcdef0123456789", "postgres-password-42");
        _echo = Echo();
        _list = new JsonObject
        {
            ["tools"] = new JsonArray([.. Enumerable.Range(0, 500).Select(i => (JsonNode)new JsonObject
            {
                ["name"] = $"tool_{i}",
                ["description"] = $"Does thing number {i} with the repository, its issues and pull requests, as asked",
                ["inputSchema"] = new JsonObject
                {
                    ["type"] = "object",
                    ["properties"] = new JsonObject { ["query"] = new JsonObject { ["type"] = "string", ["description"] = "what to look for" } },
                },
            })]),
        };
    }

    private static JsonObject Echo() => new() { ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Echo: hello from the benchmark" }) };

    [Benchmark]
    public void EchoAnswer() => SecretMask.Mask(new JsonRpcResponse { Id = new RequestId(1), Result = _echo });

    [Benchmark]
    public void ToolsListOf500() => SecretMask.Mask(new JsonRpcResponse { Id = new RequestId(2), Result = _list });

    [Benchmark]
    public int ContextTokensOf64KbWord() => McpBroker.Measure.ContextCost.Tokens(_word);
}
