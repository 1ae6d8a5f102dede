using System.Buffers;

namespace McpBroker.Transports;

/// <summary>
/// A write-only stream that joins the SDK's two writes per message (the JSON, then its newline) into one, so the
/// reader at the other end (a shim, an upstream's stdin) wakes once per message instead of twice. A message is held
/// in a pooled buffer only between those two writes; one too long to be worth copying is written as it comes.
/// </summary>
internal sealed class OneWritePerMessage(Stream inner) : Stream
{
    private const int MaxJoined = 64 * 1024;
    private byte[]? _pending;
    private int _length;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_pending is not null && buffer.Span is [(byte)'\n'])
        {
            _pending[_length++] = (byte)'\n';
            await WritePendingAsync(cancellationToken);
            return;
        }

        await WritePendingAsync(cancellationToken);
        if (buffer.Length is > 0 and < MaxJoined && buffer.Span[^1] != (byte)'\n')
        {
            _pending = ArrayPool<byte>.Shared.Rent(buffer.Length + 1);
            buffer.CopyTo(_pending);
            _length = buffer.Length;
            return;
        }

        await inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await WritePendingAsync(cancellationToken);
        await inner.FlushAsync(cancellationToken);
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    private async ValueTask WritePendingAsync(CancellationToken ct)
    {
        if (_pending is not { } pending)
        {
            return;
        }

        _pending = null;
        try
        {
            await inner.WriteAsync(pending.AsMemory(0, _length), ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(pending);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_pending is { } pending)
            {
                _pending = null;
                ArrayPool<byte>.Shared.Return(pending);
            }

            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
