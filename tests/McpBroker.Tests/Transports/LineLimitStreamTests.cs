using System.Text;
using McpBroker.Shared;
using McpBroker.Transports;

namespace McpBroker.Tests.Transports;

/// <summary>The bounded line reading every reader shares, and an upstream's stdout cut to the limit.</summary>
public sealed class LineLimitStreamTests
{
    [Fact]
    public async Task UpstreamAnswerLongerThanTheLimit_BecomesAnErrorForItsId_AndTheNextLinePasses()
    {
        // The MCP SDK writes the id after the result.
        var big = """{"result":{"content":[{"type":"text","text":" """ + new string('x', 200_000) + "\",\"id\":1}]},\"id\":12,\"jsonrpc\":\"2.0\"}";
        var next = """{"jsonrpc":"2.0","id":13,"result":{}}""";
        var dropped = new List<string>();
        using var stream = new LineLimitStream(new MemoryStream(Encoding.UTF8.GetBytes(big + "\n" + next + "\n")), 65536, dropped.Add);
        using var reader = new StreamReader(stream);

        var first = await reader.ReadLineAsync();
        Assert.StartsWith("""{"jsonrpc":"2.0","id":12,"error":{"code":-32603,""", first, StringComparison.Ordinal);
        Assert.Equal(next, await reader.ReadLineAsync());
        Assert.Null(await reader.ReadLineAsync());
        Assert.Equal(["an answer"], dropped);
    }
}
