using System.Collections.Concurrent;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// The client requests of one session that have not been answered yet. The SDK server drops responses still in
/// flight when its input ends, so the session's input stream holds back end-of-stream until this is empty.
/// </summary>
internal sealed class PendingRequests
{
    private readonly ConcurrentDictionary<RequestId, byte> _pending = new();
    private TaskCompletionSource _idle = NewIdle(completed: true);

    public int Count => _pending.Count;

    public McpMessageFilter IncomingFilter => next => async (context, ct) =>
    {
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

/// <summary>A read-only stream that reports end-of-stream only once every request read from it was answered.</summary>
internal sealed class DrainingInputStream(Stream inner, PendingRequests pending, TimeSpan maxWait) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        if (n == 0)
        {
            try
            {
                await pending.WhenIdle().WaitAsync(maxWait, cancellationToken);
            }
            catch (TimeoutException)
            {
            }
        }

        return n;
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
