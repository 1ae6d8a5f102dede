using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Facade;

/// <summary>A pinned upstream's tools, before anyone approved them: hidden from search, refused by call with the way out.</summary>
public sealed class FacadePinningTests
{
    [Fact]
    public async Task CallTool_OfAToolNotYetApproved_IsQuarantinedWithTheCommandThatApprovesIt()
    {
        await using var broker = await InProcessBroker.CreateAsync($$"""
            profiles:
              compact: { compact_tools_enabled: true }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}", pin_tools: true }
            """);

        var result = await broker.Facade.CallToolAsync(broker.Profile("compact"), "s1", new CallToolRequestParams
        {
            Name = "broker.call_tool",
            Arguments = new Dictionary<string, JsonElement> { ["name"] = JsonSerializer.SerializeToElement("t.echo") },
        }, CancellationToken.None);
        broker.RememberProcesses();

        Assert.True(result.IsError);
        var error = JsonNode.Parse(Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text)!["error"]!;
        Assert.Equal("tool_quarantined", (string)error["code"]!);
        Assert.StartsWith("'t.echo' is quarantined: ", (string)error["message"]!, StringComparison.Ordinal);
        Assert.Equal("ask the user to review it and run: mcp-broker tools approve t echo", (string)error["hint"]!);
    }
}
