using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Facade;

/// <summary>A raw profile's page cursor: good while the profile lists the same tools, whatever else the catalog learns.</summary>
public sealed class ToolListCursorTests
{
    [Fact]
    public async Task Cursor_SurvivesAnotherProfilesUpstreamBeingListed_AndIsRefusedOnceItsOwnListChanged()
    {
        await using var broker = await InProcessBroker.CreateAsync($$"""
            profiles:
              pa: { compact_tools_enabled: false, tools_page_size: 2, upstreams: [a], allow_mutating_upstreams: [a] }
              pb: { compact_tools_enabled: false, upstreams: [b] }
            upstreams:
              a: { command: "{{Repo.TestUpstream}}", pin_tools: false }
              b: { command: "{{Repo.TestUpstream}}" }
            """);
        var pa = broker.Profile("pa");
        var first = await broker.Facade.ListToolsAsync(pa, "s", null, CancellationToken.None);
        broker.RememberProcesses();
        var before = broker.Catalog.Current.Version;

        // Upstream b is listed for the first time: the catalog changes, profile pa's list does not.
        Assert.NotEmpty((await broker.Facade.ListToolsAsync(broker.Profile("pb"), "s", null, CancellationToken.None)).Tools);
        broker.RememberProcesses();
        Assert.True(broker.Catalog.Current.Version > before);
        var second = await broker.Facade.ListToolsAsync(pa, "s", first.NextCursor, CancellationToken.None);
        Assert.Empty(second.Tools.Select(t => t.Name).Intersect(first.Tools.Select(t => t.Name)));

        // Upstream a adds a tool: pa's list changed, so the old cursor is refused.
        var signature = await broker.Facade.ListSignatureAsync(pa, "s", CancellationToken.None);
        var added = await broker.Facade.CallToolAsync(pa, "s", new CallToolRequestParams { Name = "a.add_tool", Arguments = new Dictionary<string, JsonElement>() }, CancellationToken.None);
        Assert.False(added.IsError == true, string.Concat(added.Content.OfType<TextContentBlock>().Select(c => c.Text)));
        await Wait.UntilAsync(async () => await broker.Facade.ListSignatureAsync(pa, "s", CancellationToken.None) != signature, "upstream a's new tool to reach the catalog");
        var ex = await Assert.ThrowsAsync<McpProtocolException>(async () => await broker.Facade.ListToolsAsync(pa, "s", first.NextCursor, CancellationToken.None));
        Assert.Equal(McpErrorCode.InvalidParams, ex.ErrorCode);
    }
}
