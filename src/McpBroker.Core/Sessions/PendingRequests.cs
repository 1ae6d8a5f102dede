using System.Collections.Concurrent;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// The client requests of one session that have not been answered yet. The SDK server drops responses still in
/// flight when its input ends, so the session's input stream holds back end-of-stream until every line it
/// delivered has reached the server and every request among them has been answered.
/// </summary>
internal sealed class PendingRequests
{
    private readonly ConcurrentDictionary<RequestId, byte> _pending = new();
    private TaskCompletionSource _idle = NewIdle(completed: true);
    private long _messagesSeen;

    public int Count => _pending.Count;

    public long MessagesSeen => Interlocked.Read(ref _messagesSeen);

    public McpMessageFilter IncomingFilter => next => async (context, ct) =>
    {
        Interlocked.Increment(ref _messagesSeen);
        switch (context.JsonRpcMessage)
        {
            case JsonRpcRequest request:
                Add(request.Id);
                break;
            case JsonRpcNotification { Method: NotificationMethods.CancelledNotification } notification:
                if (notification.Params?["requestId"] is { } id && RequestIdFrom(id) is { } cancelled)
                {
                    Remove(cancelled);
                }

                break;
        }

        await next(context, ct);
    };

    public McpMessageFilter OutgoingFilter => next => async (context, ct) =>
    {
        await next(context, ct);
        if (context.JsonRpcMessage is JsonRpcResponse or JsonRpcError)
        {
            Remove(((JsonRpcMessageWithId)context.JsonRpcMessage).Id);
        }
    };

    public Task WhenIdle()
    {
        lock (_pending)
        {
            return _pending.IsEmpty ? Task.CompletedTask : _idle.Task;
        }
    }

    private void Add(RequestId id)
    {
        lock (_pending)
        {
            if (_pending.IsEmpty)
            {
                _idle = NewIdle(completed: false);
            }

            _pending[id] = 0;
        }
    }

    private void Remove(RequestId id)
    {
        lock (_pending)
        {
            if (_pending.TryRemove(id, out _) && _pending.IsEmpty)
            {
                _idle.TrySetResult();
            }
        }
    }

    private static RequestId? RequestIdFrom(System.Text.Json.Nodes.JsonNode node) =>
        node.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => new RequestId(node.GetValue<string>()),
            System.Text.Json.JsonValueKind.Number => new RequestId(node.GetValue<long>()),
            _ => null,
        };

    private static TaskCompletionSource NewIdle(bool completed)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            tcs.SetResult();
        }

        return tcs;
    }
}

/// <summary>
/// A read-only stream that reports end-of-stream only once every message read from it reached the server and
/// every request was answered. It counts the non-blank lines it hands out (the SDK reads one message a line).
/// </summary>
internal sealed class DrainingInputStream(Stream inner, PendingRequests pending, TimeSpan maxWait) : Stream
{
    // A line the server could not parse never reaches its filters: stop waiting for it after this long.
    private static readonly TimeSpan s_deliveryWait = TimeSpan.FromSeconds(5);
    private long _lines;
    private bool _lineHasContent;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        if (n > 0)
        {
            CountLines(buffer.Span[..n]);
            return n;
        }

        if (_lineHasContent)
        {
            _lineHasContent = false;
            _lines++;
        }

        await DrainAsync(cancellationToken);
        return 0;
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(5));
            var deadline = DateTime.UtcNow + s_deliveryWait;
            while (pending.MessagesSeen < _lines && DateTime.UtcNow < deadline && await timer.WaitForNextTickAsync(ct))
            {
            }

            await pending.WhenIdle().WaitAsync(maxWait, ct);
        }
        catch (TimeoutException)
        {
        }
    }

    private void CountLines(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var newline = data.IndexOf((byte)'\n');
            var segment = newline < 0 ? data : data[..newline];
            _lineHasContent |= segment.IndexOfAnyExcept(" \r\t"u8) >= 0;
            if (newline < 0)
            {
                return;
            }

            if (_lineHasContent)
            {
                _lines++;
            }

            _lineHasContent = false;
            data = data[(newline + 1)..];
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
