// Compiled into both the broker and the shim.
using System.Buffers;

namespace McpBroker.Shared;

/// <summary>What <see cref="LineBuffer.TryTake"/> found.</summary>
internal enum LineKind
{
    /// <summary>A complete line (or the last bytes before the end), without its newline.</summary>
    Message,

    /// <summary>A line longer than the limit, already discarded; <see cref="Line.Bytes"/> holds its first bytes only.</summary>
    Oversized,

    /// <summary>The stream ended and nothing is left.</summary>
    End,
}

/// <summary>
/// One line taken from a <see cref="LineBuffer"/>; its bytes are valid until the buffer's next call. An oversized
/// line's <see cref="Tail"/> is its last bytes: writers that put the id last (the MCP SDK does) have it there.
/// </summary>
internal readonly record struct Line(LineKind Kind, ReadOnlyMemory<byte> Bytes, ReadOnlyMemory<byte> Tail = default);

/// <summary>
/// Splits a byte stream into newline-delimited messages, holding at most <see cref="Limit"/> bytes of any one line: a
/// longer line is dropped while it streams in (never buffered whole) and reported as <see cref="LineKind.Oversized"/>
/// with its first bytes, from which a request id may still be read. The caller does the reading, so one buffer serves
/// the shim's blocking reads and the daemon's asynchronous ones: <c>while (!TryTake(out var line)) Advance(Read(Free()))</c>.
/// After a long line the buffer shrinks back, so its memory is not kept for the rest of the session.
/// </summary>
internal sealed class LineBuffer : IDisposable
{
    /// <summary>The default of <c>broker.max_message_bytes</c>: 16 MiB, room for a tool result carrying a 10 MB image in base64.</summary>
    public const int DefaultLimit = 16 * 1024 * 1024;

    /// <summary>How much of a dropped line's start is kept to find its id in (most JSON-RPC writers put the id first).</summary>
    public const int PrefixBytes = 16 * 1024;

    /// <summary>How much of a dropped line's end is kept, for writers that put the id last.</summary>
    public const int TailBytes = 1024;

    private const int InitialSize = 64 * 1024;

    /// <summary>A buffer grown past this is let go as soon as it is empty, instead of kept for the next message.</summary>
    private const int KeptSize = 1024 * 1024;

    private byte[] _buffer;
    private bool _pooled;
    private int _start;
    private int _end;
    private int _scanned;
    private bool _eof;
    private bool _skipping;
    private byte[] _prefix = [];
    private readonly byte[] _tail = new byte[TailBytes];
    private int _tailLength;

    public LineBuffer(int limit)
    {
        Limit = limit;
        _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
        _pooled = true;
    }

    /// <summary>The longest line handed out; may change between lines (a reconnect to a daemon with another setting).</summary>
    public int Limit { get; set; }

    /// <summary>Whether nothing read is waiting to be taken.</summary>
    public bool IsEmpty => _start == _end && !_skipping;

    /// <summary>
    /// Gives the buffer back while nothing is pending, so that an idle connection holds none (<see cref="Free"/> rents
    /// one again); a reader waits for the next bytes with a zero-byte read in between.
    /// </summary>
    public void Release()
    {
        if (!IsEmpty || _buffer.Length == 0)
        {
            return;
        }

        if (_pooled)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = [];
        _pooled = false;
        _start = _end = _scanned = 0;
    }

    /// <summary>Space to read into; never empty.</summary>
    public Memory<byte> Free()
    {
        if (_buffer.Length == 0)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
            _pooled = true;
        }

        if (_end == _buffer.Length)
        {
            var pending = _end - _start;
            if (pending > _buffer.Length / 2)
            {
                // One line fills most of the buffer: a bigger one, but never much bigger than a line may be.
                Replace(GC.AllocateUninitializedArray<byte>((int)Math.Min(Math.Max((long)_buffer.Length * 2, pending + 1), (long)Limit + InitialSize)), pooled: false);
            }
            else
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
                _scanned -= _start;
                _start = 0;
                _end = pending;
            }
        }

        return _buffer.AsMemory(_end);
    }

    /// <summary>Records <paramref name="count"/> bytes read into <see cref="Free"/>; 0 is the end of the stream.</summary>
    public void Advance(int count)
    {
        _eof |= count == 0;
        _end += count;
    }

    /// <summary>The next line, an oversized line's prefix, or the end; false when more must be read first.</summary>
    public bool TryTake(out Line line)
    {
        if (_skipping)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            KeepTail(_buffer.AsSpan(_start, (newline < 0 ? _end : _start + newline) - _start));
            if (newline < 0 && !_eof)
            {
                // The rest of a line already dropped: nothing of it is kept but its last bytes.
                _start = _end = _scanned = 0;
                line = default;
                return false;
            }

            _start = _scanned = newline < 0 ? _end : _start + newline + 1;
            _skipping = false;
            line = new Line(LineKind.Oversized, _prefix, _tail.AsMemory(0, _tailLength));
            return true;
        }

        _scanned = Math.Max(_scanned, _start);
        var found = _buffer.AsSpan(_scanned, _end - _scanned).IndexOf((byte)'\n');
        if (found >= 0)
        {
            var end = _scanned + found;
            if (end - _start > Limit)
            {
                line = Oversized(_start, end);
                _start = _scanned = end + 1;
                return true;
            }

            line = new Line(LineKind.Message, _buffer.AsMemory(_start, end - _start));
            _start = _scanned = end + 1;
            return true;
        }

        _scanned = _end;
        if (_end - _start > Limit)
        {
            // Too long already and no end in sight: keep its start, drop the rest as it comes.
            _prefix = Prefix(_start, _end).ToArray();
            _tailLength = 0;
            KeepTail(_buffer.AsSpan(_start, _end - _start));
            _start = _end = _scanned = 0;
            Shrink();
            _skipping = true;
            return TryTake(out line);
        }

        if (!_eof)
        {
            if (_start == _end && _buffer.Length > KeptSize)
            {
                Shrink();
            }

            line = default;
            return false;
        }

        if (_start == _end)
        {
            line = new Line(LineKind.End, default);
            return true;
        }

        line = _end - _start > Limit ? Oversized(_start, _end) : new Line(LineKind.Message, _buffer.AsMemory(_start, _end - _start));
        _start = _scanned = _end;
        return true;
    }

    public void Dispose()
    {
        if (_pooled)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = [];
        _pooled = false;
        _start = _end = _scanned = 0;
    }

    private ReadOnlyMemory<byte> Prefix(int start, int end) => _buffer.AsMemory(start, Math.Min(end - start, PrefixBytes));

    private Line Oversized(int start, int end) =>
        new(LineKind.Oversized, Prefix(start, end), _buffer.AsMemory(Math.Max(start, end - TailBytes), Math.Min(end - start, TailBytes)));

    /// <summary>Keeps the last <see cref="TailBytes"/> of what has been dropped so far, with <paramref name="more"/> after it.</summary>
    private void KeepTail(ReadOnlySpan<byte> more)
    {
        if (more.Length >= TailBytes)
        {
            more[^TailBytes..].CopyTo(_tail);
            _tailLength = TailBytes;
            return;
        }

        var kept = Math.Min(_tailLength, TailBytes - more.Length);
        _tail.AsSpan(_tailLength - kept, kept).CopyTo(_tail);
        more.CopyTo(_tail.AsSpan(kept));
        _tailLength = kept + more.Length;
    }

    private void Shrink()
    {
        var pending = _end - _start;
        if (_buffer.Length > KeptSize && pending <= InitialSize)
        {
            var small = ArrayPool<byte>.Shared.Rent(InitialSize);
            Buffer.BlockCopy(_buffer, _start, small, 0, pending);
            _scanned -= _start;
            _start = 0;
            _end = pending;
            if (_pooled)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = small;
            _pooled = true;
        }
    }

    private void Replace(byte[] bigger, bool pooled)
    {
        var pending = _end - _start;
        Buffer.BlockCopy(_buffer, _start, bigger, 0, pending);
        if (_pooled)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = bigger;
        _pooled = pooled;
        _scanned -= _start;
        _start = 0;
        _end = pending;
    }
}
