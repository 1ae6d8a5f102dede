using System.Collections.Concurrent;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Transports;

/// <summary>
/// The client requests of one session that have not been answered yet. The SDK server drops responses still in
/// flight when its input ends, so the session's transport (<see cref="SocketServerTransport"/>) holds back
/// end-of-input until every message it delivered has reached the server and every request among them has been answered.
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
