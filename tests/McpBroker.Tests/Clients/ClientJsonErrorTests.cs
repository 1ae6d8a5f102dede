using System.Text;
using McpBroker.Clients;
using McpBroker.Config;

namespace McpBroker.Tests.Clients;

/// <summary>A client file that is not valid JSON: the error names the file, the line and column, and that nothing changed — not System.Text.Json's own words about bytes.</summary>
public sealed class ClientJsonErrorTests
{
    private const string Broken = "{\n  \"mcpServers\": {\n    \"a\": { \"command\": \"x\" }\n    \"b\": {}\n  }\n}\n";

    [Fact]
    public void Render_BrokenJson_SaysFileLineColumnAndTheFix()
    {
        var client = new ClientModel("cursor", ClientFormats.Parse("cursor")!.Value, "/home/dev/.cursor/mcp.json", "mcp-broker", "default", null);
        var entry = new ClientEntry("mcp-broker", "/usr/bin/mcp-broker-client", ["--profile", "default"]);

        var error = Assert.Throws<ClientConfigException>(() => ClientRenderer.Render(client, entry, Encoding.UTF8.GetBytes(Broken), []));

        Assert.StartsWith("/home/dev/.cursor/mcp.json: not valid JSON at line 4, column 5: ", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("Fix that spot by hand; nothing was changed", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("BytePositionInLine", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BrokenJson_SaysFileLineAndColumn()
    {
        var error = Assert.Throws<ClientConfigException>(() => ClientServers.Read(ClientFormats.Parse("cursor")!.Value, Encoding.UTF8.GetBytes(Broken), "/home/dev/.cursor/mcp.json"));

        Assert.StartsWith("/home/dev/.cursor/mcp.json: not valid JSON at line 4, column 5: ", error.Message, StringComparison.Ordinal);
    }
}
