using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>What the daemon's log says about clients' requests it answers with a protocol error.</summary>
public sealed class ClientErrorLoggingJourneyTests
{
    [Fact]
    public async Task ClientAsksACompactSessionForPromptsAndResources_TheDaemonLogsNoWarningNorException()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: { compact_tools_enabled: true }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            """);
        var client = await env.ConnectAsync("default");

        // As clients probe every server they connect to: a compact session declares neither, and says so.
        foreach (var method in new[] { RequestMethods.PromptsList, RequestMethods.ResourcesList })
        {
            var refused = await Assert.ThrowsAsync<McpProtocolException>(() => client.SendRequestAsync(new JsonRpcRequest { Method = method }));
            Assert.Equal(McpErrorCode.MethodNotFound, refused.ErrorCode);
        }

        var session = (await BrokerEnvironment.UpstreamStatusAsync(client)).Count; // the session still serves
        Assert.Equal(1, session);
        await client.DisposeAsync();
        var log = Path.Combine(env.Root, "logs", "daemon.log");
        await Wait.UntilAsync(() => File.Exists(log) && File.ReadAllText(log).Contains("ended", StringComparison.Ordinal), "the session's end in the daemon log");

        var lines = File.ReadAllLines(log);
        var about = lines.Where(l => l.Contains("prompts/list", StringComparison.Ordinal) || l.Contains("resources/list", StringComparison.Ordinal)).ToList();
        Assert.True(about.Count == 0, string.Join("\n", about));
        Assert.DoesNotContain(lines, l => l.Contains("McpProtocolException", StringComparison.Ordinal));
    }
}
