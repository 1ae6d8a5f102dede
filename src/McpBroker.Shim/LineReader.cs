using McpBroker.Shared;

namespace McpBroker.Shim;

/// <summary>
/// Reads newline-delimited messages from a stream with blocking reads, at most <see cref="Limit"/> bytes a message: a
/// longer one is dropped as it streams in and comes back as <see cref="LineKind.Oversized"/> with its first bytes.
/// </summary>
internal sealed class LineReader(Stream stream, int limit)
{
    private readonly LineBuffer _lines = new(limit);

    public int Limit
    {
        get => _lines.Limit;
        set => _lines.Limit = value;
    }

    /// <summary>The next line (valid until the next call), an oversized line's start, or <see cref="LineKind.End"/>. Blocking.</summary>
    public Line ReadLine()
    {
        Line line;
        while (!_lines.TryTake(out line))
        {
            _lines.Advance(stream.Read(_lines.Free().Span));
        }

        if (line.Kind == LineKind.End)
        {
            _lines.Dispose();
        }

        return line;
    }
}
