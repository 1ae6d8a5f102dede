using System.Buffers;

namespace McpBroker.Shim;

/// <summary>Reads newline-delimited messages from a stream into one growing pooled buffer.</summary>
internal sealed class LineReader(Stream stream)
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _start;
    private int _end;
    private bool _eof;
    private int _scanned;

    /// <summary>The next line without its '\n' (valid until the next call), or null at the end of the stream. Blocking.</summary>
    public ReadOnlyMemory<byte>? ReadLine()
    {
        while (true)
        {
            if (TryTake(out var line))
            {
                return line;
            }

            Filled(stream.Read(Free().Span));
        }
    }

    /// <summary>A complete line (or, at the end, the rest, or null when nothing is left); false when more must be read.</summary>
    private bool TryTake(out ReadOnlyMemory<byte>? line)
    {
        _scanned = Math.Max(_scanned, _start);
        var newline = _buffer.AsSpan(_scanned, _end - _scanned).IndexOf((byte)'\n');
        if (newline >= 0)
        {
            line = _buffer.AsMemory(_start, _scanned + newline - _start);
            _start = _scanned = _scanned + newline + 1;
            return true;
        }

        _scanned = _end;
        if (!_eof)
        {
            line = null;
            return false;
        }

        if (_start == _end)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
            _start = _end = _scanned = 0;
            line = null;
            return true;
        }

        line = _buffer.AsMemory(_start, _end - _start);
        _start = _end;
        return true;
    }

    private Memory<byte> Free()
    {
        if (_end == _buffer.Length)
        {
            Compact(ref _scanned);
        }

        return _buffer.AsMemory(_end);
    }

    private void Filled(int n)
    {
        _eof |= n == 0;
        _end += n;
    }

    /// <summary>Moves the unread bytes to the front, growing the buffer when a single line fills it.</summary>
    private void Compact(ref int scanned)
    {
        var pending = _end - _start;
        var target = pending > _buffer.Length / 2 ? ArrayPool<byte>.Shared.Rent(_buffer.Length * 2) : _buffer;
        Buffer.BlockCopy(_buffer, _start, target, 0, pending);
        if (!ReferenceEquals(target, _buffer))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = target;
        }

        scanned -= _start;
        _start = 0;
        _end = pending;
    }
}
