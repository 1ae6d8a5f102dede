using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// The supervisor's own route for an upstream's JSON-RPC error passed on as it came (resources, prompts, completion),
/// with a secret in it.
/// </summary>
public sealed class UpstreamSupervisorSecretsTests
{
    [Fact]
    public async Task RequestAsync_AnUpstreamsJsonRpcError_PassesAsItCame_WithoutTheSdkPrefix_AndMasked()
    {
        var variable = $"MCP_BROKER_TEST_SECRET_{Guid.NewGuid():N}";
        var secret = $"passed-error-secret-{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(variable, secret);
        try
        {
            await using var broker = await InProcessBroker.CreateAsync($$"""
                upstreams:
                  t:
                    command: "{{Repo.TestUpstream}}"
                    args: [--leak-env, LEAKED]
                    env_from: { LEAKED: {{variable}} }
                """);
            var supervisor = broker.Registry.Acquire("t", "s1")!.Value.Supervisor;

            var refused = await Assert.ThrowsAsync<McpProtocolException>(() => supervisor.RequestAsync("s1", retryable: false,
                (client, ct) => client.CallToolAsync("leak", new Dictionary<string, object?> { ["as"] = "protocol_error" }, cancellationToken: ct).AsTask(), CancellationToken.None));

            Assert.Equal("refused: LEAKED=***", refused.Message);
            Assert.Equal(McpErrorCode.InvalidParams, refused.ErrorCode);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }
}
