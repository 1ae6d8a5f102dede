using System.Buffers;

namespace McpBroker.Shim;

/// <summary>Reads newline-delimited messages from a stream into one growing pooled buffer.</summary>
internal sealed class LineReader(Stream stream)
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _start;
    private int _end;
    private bool _eof;

    /// <summary>The next line without its '\n' (valid until the next call), or null at the end of the stream.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync()
    {
        var scanned = _start;
        while (true)
        {
            var newline = _buffer.AsSpan(scanned, _end - scanned).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = _buffer.AsMemory(_start, scanned + newline - _start);
                _start = scanned + newline + 1;
                return line;
            }

            scanned = _end;
            if (_eof)
            {
                if (_start == _end)
                {
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = [];
                    _start = _end = 0;
                    return null;
                }

                var last = _buffer.AsMemory(_start, _end - _start);
                _start = _end;
                return last;
            }

            if (_end == _buffer.Length)
            {
                Compact(ref scanned);
            }

            var n = await stream.ReadAsync(_buffer.AsMemory(_end));
            if (n == 0)
            {
                _eof = true;
            }

            _end += n;
        }
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
