using System.Buffers;
using System.Text;
using System.Text.Json;
using McpBroker.Shared;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Transports;

/// <summary>
/// The MCP server transport of one socket session: newline-delimited JSON-RPC, read with a bound and answered as the
/// specification asks where the SDK's <c>StreamServerTransport</c> does not. That one reads each line whole into a
/// string (<c>StreamReader.ReadLineAsync</c>: 300 MB without a newline held 5.4 GB), and says nothing to a line it
/// cannot use unless it finds a request id in it — a batch, a bare value, an id that is an object, a boolean, null or a
/// fraction got no answer at all. Here a line longer than the session's limit is dropped as it streams in and answered
/// with an error (its id when its first bytes show one), a line that is not JSON gets -32700 and one that is not a
/// valid message -32600 (null id where the id is unreadable), and the session goes on.
/// <para>
/// The SDK server drops responses still in flight when its input ends, so end-of-input is reported only once every
/// message handed to the server has reached its filters and every request among them has been answered (or the wait
/// limit passed). Only messages that parsed are handed over, so nothing is waited for that will never arrive.
/// </para>
/// </summary>
internal sealed partial class SocketServerTransport : TransportBase
{
    private readonly Stream _stream;
    private readonly PendingRequests _pending;
    private readonly TimeSpan _drainLimit;
    private readonly int _limit;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _output = new(16 * 1024);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationTokenSource _inputEnded = new();
    private readonly Task _reading;
    private long _delivered;
    private int _disposed;

    public SocketServerTransport(Stream stream, PendingRequests pending, TimeSpan drainLimit, int maxMessageBytes, string sessionId, ILoggerFactory loggerFactory)
        : base($"broker session {sessionId}", loggerFactory)
    {
        _stream = stream;
        _pending = pending;
        _drainLimit = drainLimit;
        _limit = maxMessageBytes;
        _logger = loggerFactory.CreateLogger<SocketServerTransport>();
        SetConnected();
        _reading = Task.Run(ReadAsync, CancellationToken.None);
    }

    /// <summary>One write per message, the JSON and its newline together, so the shim wakes once for it.</summary>
    public override async Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default)
    {
        if (!IsConnected)
        {
            return;
        }

        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            _output.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(_output))
            {
                JsonSerializer.Serialize(writer, message, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage)));
            }

            _output.Write("\n"u8);
            await _stream.WriteAsync(_output.WrittenMemory, cancellationToken);
            await _stream.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new IOException("Failed to send message.", ex);
        }
        finally
        {
            if (_output.Capacity > 1024 * 1024)
            {
                // A large answer's buffer is not kept for the rest of the session.
                _output.Clear();
            }

            _sendLock.Release();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync();
        try
        {
            await _reading;
        }
        catch (OperationCanceledException)
        {
        }

        SetDisconnected();
        _shutdown.Dispose();
    }

    /// <summary>
    /// Cancelled when the client's input has ended: a request held open until the client cancels it
    /// (<c>subscriptions/listen</c>) ends then, or the session would wait for it forever (the SDK waits for every handler).
    /// </summary>
    public CancellationToken InputEnded => _inputEnded.Token;

    private async Task ReadAsync()
    {
        var ct = _shutdown.Token;
        Exception? error = null;
        using var lines = new LineBuffer(_limit);
        try
        {
            while (true)
            {
                Line line;
                while (!lines.TryTake(out line))
                {
                    if (lines.IsEmpty)
                    {
                        // An idle session holds no read buffer (64 KB each): a zero-byte read waits for the next
                        // bytes, and only then is a buffer rented, as Kestrel does for idle connections.
                        lines.Release();
                        _ = await _stream.ReadAsync(Memory<byte>.Empty, ct);
                    }

                    lines.Advance(await _stream.ReadAsync(lines.Free(), ct));
                }

                if (line.Kind == LineKind.End)
                {
                    await _inputEnded.CancelAsync();
                    break;
                }

                if (line.Kind == LineKind.Oversized)
                {
                    await RefuseOversizedAsync(line, ct);
                    continue;
                }

                if (line.Bytes.Span.IndexOfAnyExcept(" \t\r"u8) < 0)
                {
                    continue;
                }

                if (Parse(line.Bytes.Span) is { } message)
                {
                    _delivered++;
                    await WriteMessageAsync(message, ct);
                }
                else if (Fault(line.Bytes.Span) is { Answer: true } fault)
                {
                    LogRefused(fault.Code, fault.Message);
                    await AnswerAsync(fault, ct);
                }
            }

            await DrainAsync(ct);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            // The connection broke (or something no line should cause): the session ends, as the SDK's transport does.
            error = ex;
        }
        finally
        {
            await _inputEnded.CancelAsync();
            SetDisconnected(error);
        }
    }

    private static JsonRpcMessage? Parse(ReadOnlySpan<byte> line)
    {
        try
        {
            return JsonSerializer.Deserialize(line, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage))) as JsonRpcMessage;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or OverflowException)
        {
            // InvalidOperationException: text that is not valid UTF-8 made a string; the others: numbers out of shape.
            return null;
        }
    }

    /// <summary>Why a line the SDK's parser refused is no message; one the check lets through failed deeper (e.g. an error object of the wrong shape).</summary>
    private static JsonRpcFault Fault(ReadOnlySpan<byte> line)
    {
        if (JsonRpcCheck.Check(line) is { } fault)
        {
            return fault;
        }

        var info = MessageInfo.Inspect(line);
        return new JsonRpcFault(JsonRpcCheck.InvalidRequest, "Invalid Request: the message does not have the shape of a JSON-RPC request, notification or response", info.Id, !info.IsResponse);
    }

    private async Task RefuseOversizedAsync(Line line, CancellationToken ct)
    {
        var info = MessageInfo.InspectDropped(line);
        LogOversized(_limit);
        if (!info.IsResponse)
        {
            await AnswerAsync(new JsonRpcFault(JsonRpcCheck.InvalidRequest,
                $"Invalid Request: the message is longer than {_limit} bytes (broker.max_message_bytes) and was dropped", info.Id), ct);
        }
    }

    private async Task AnswerAsync(JsonRpcFault fault, CancellationToken ct)
    {
        RequestId id = default;
        try
        {
            if (fault.Id is { } raw && JsonSerializer.Deserialize(raw, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(RequestId))) is RequestId parsed)
            {
                id = parsed;
            }
        }
        catch (JsonException)
        {
            // An id that cannot be written back is answered as unreadable: with null.
        }

        await SendMessageAsync(new JsonRpcError { Id = id, Error = new JsonRpcErrorDetail { Code = fault.Code, Message = fault.Message } }, ct);
    }

    /// <summary>Waits until every message handed over reached the server's filters and every request was answered.</summary>
    private async Task DrainAsync(CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(5));
            // Every message handed over reaches the filters at once; the cap is for a server already shutting down.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (_pending.MessagesSeen < _delivered && DateTime.UtcNow < deadline && await timer.WaitForNextTickAsync(ct))
            {
            }

            await _pending.WhenIdle().WaitAsync(_drainLimit, ct);
        }
        catch (TimeoutException)
        {
        }
    }

    [LoggerMessage(EventId = 310, Level = LogLevel.Warning, Message = "Dropped a client message longer than {Limit} bytes (broker.max_message_bytes)")]
    private partial void LogOversized(int limit);

    [LoggerMessage(EventId = 311, Level = LogLevel.Debug, Message = "Answered a client message with JSON-RPC error {Code}: {Reason}")]
    private partial void LogRefused(int code, string reason);
}
