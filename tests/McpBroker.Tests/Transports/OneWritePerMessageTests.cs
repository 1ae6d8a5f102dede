
namespace McpBroker.Tests.Transports;

/// <summary>One write per message: each message joined with its newline, long ones passed through.</summary>
public sealed class OneWritePerMessageTests
{
    [Fact]
    public async Task OneWritePerMessage_JoinsEachMessageWithItsNewline_AndPassesLongOnesThrough()
    {
        var inner = new RecordingStream();
        await using var stream = new McpBroker.Transports.OneWritePerMessage(inner);

        await stream.WriteAsync("{\"id\":1}"u8.ToArray());
        Assert.Empty(inner.Writes);
        await stream.WriteAsync("\n"u8.ToArray());
        await stream.WriteAsync("{\"id\":2}"u8.ToArray());
        await stream.FlushAsync();
        var big = new byte[100_000];
        big.AsSpan().Fill((byte)'x');
        await stream.WriteAsync(big);
        await stream.WriteAsync("\n"u8.ToArray());

        Assert.Equal(["{\"id\":1}\n", "{\"id\":2}", new string('x', 100_000), "\n"], inner.Writes);
    }

    private sealed class RecordingStream : MemoryStream
    {
        public List<string> Writes { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(System.Text.Encoding.UTF8.GetString(buffer.Span));
            return ValueTask.CompletedTask;
        }
    }
}
