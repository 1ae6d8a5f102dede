using System.Text;
using McpBroker.Shared;

namespace McpBroker.Transports;

/// <summary>
/// An upstream's stdout with a bound on each line, for the SDK's <c>StreamClientTransport</c>, which reads every line
/// whole into a string however long it grows (<c>StreamReader.ReadLineAsync</c>). A line longer than the limit is
/// dropped as it streams in; when its first bytes show it answers a request, an error response with that id takes its
/// place, so the call fails at once saying why instead of waiting for its timeout. A dropped request or notification
/// of the upstream's is only reported (<paramref name="onDropped"/>): a read-only stream cannot answer it.
/// Whole lines pass through unchanged, each once complete.
/// </summary>
internal sealed class LineLimitStream(Stream inner, int limit, Action<string>? onDropped = null) : ReadOnlyStream
{
    private readonly LineBuffer _lines = new(limit);
    private ReadOnlyMemory<byte> _current;
    private bool _newlineOwed;
    private bool _ended;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_current.IsEmpty && !_newlineOwed)
        {
            if (_ended)
            {
                return 0;
            }

            Line line;
            while (!_lines.TryTake(out line))
            {
                _lines.Advance(await inner.ReadAsync(_lines.Free(), cancellationToken));
            }

            switch (line.Kind)
            {
                case LineKind.End:
                    _ended = true;
                    break;
                case LineKind.Message:
                    _current = line.Bytes;
                    _newlineOwed = true;
                    break;
                case LineKind.Oversized:
                    var info = MessageInfo.InspectDropped(line);
                    onDropped?.Invoke(info.IsResponse ? "an answer" : info.Method is not null ? $"a message '{info.Method}'" : "a message");
                    if (info.IsResponse && info.Id is { } id)
                    {
                        _current = Encoding.UTF8.GetBytes(JsonRpcCheck.ErrorResponse(id, -32603,
                            $"mcp-broker: the upstream's answer is longer than {limit} bytes (broker.max_message_bytes) and was dropped"));
                        _newlineOwed = true;
                    }

                    break;
            }
        }

        // The line and its newline in one read when they fit, so the reader above wakes once per message.
        var n = Math.Min(buffer.Length, _current.Length);
        _current[..n].CopyTo(buffer);
        _current = _current[n..];
        if (_current.IsEmpty && _newlineOwed && n < buffer.Length)
        {
            buffer.Span[n++] = (byte)'\n';
            _newlineOwed = false;
        }

        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _lines.Dispose();
        }

        base.Dispose(disposing);
    }
}
