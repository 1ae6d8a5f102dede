using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using McpBroker.Shared;

namespace McpBroker.Shim;

/// <summary>One welcomed connection to the daemon, and the largest message it takes (its welcome says).</summary>
internal sealed record Link(Socket Socket, NetworkStream Stream, int MaxMessageBytes) : IDisposable
{
    public void Dispose() => Stream.Dispose();
}

/// <summary>
/// Relays the client's messages to the daemon and the daemon's back, line for line and byte for byte. It reads
/// only each message's top-level <c>method</c> and <c>id</c>, for two jobs: when stdin ends it half-closes the socket
/// and waits until every request has been answered; when the daemon goes away mid-session it answers the requests
/// in flight with an error, and on the client's next message reconnects (starting a daemon if none runs) and
/// replays the client's <c>initialize</c>/<c>initialized</c>, so the client's session goes on. A message longer than the
/// daemon's <c>max_message_bytes</c>, either way, is dropped as it streams through (never held whole) and its request,
/// when it is one, answered with an error in its place, so the session goes on.
/// </summary>
internal sealed class Relay(Link first, Func<(Link? Link, string? Error)> reconnect)
{
    private const int MaxReconnects = 5;
    private const int ConnectAttempts = 3;
    private readonly SemaphoreSlim _gate = new(1, 1);

    // Both directions write to the client: the daemon's messages, and the shim's own answers to messages it dropped.
    private readonly Lock _stdoutLock = new();
    private int _limit = first.MaxMessageBytes;
    private readonly ConcurrentDictionary<string, byte> _inFlight = new(StringComparer.Ordinal);
    private TaskCompletionSource<Link?> _nextLink = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Link? _link = first;
    private byte[]? _initialize;
    private string? _initializeId;
    private byte[]? _initialized;
    private string? _dropId;
    private volatile bool _inputDone;
    private int _reconnects;

    /// <summary>
    /// Relays until the session ends. Each direction is a thread of its own with blocking reads and writes: the client's
    /// side on a new one, the daemon's on the caller's. A console stream has no real async read (each one is a
    /// thread-pool hop), and on the socket side the blocking thread measured as cheap per call as epoll-driven reads
    /// while sparing the start of the thread pool on the way to the first answer (docs/benchmarks.md).
    /// </summary>
    public int Run(Stream stdin, Stream stdout)
    {
        var inputCode = 0;
        var input = new Thread(() => inputCode = ClientToDaemon(stdin, stdout)) { IsBackground = true, Name = "client to daemon" };
        input.Start();
        var code = DaemonToClient(stdout);
        if (input.IsAlive)
        {
            // The client is still connected but the broker cannot be reached any more: that is the error to report.
            return code;
        }

        input.Join();
        return Math.Max(code, inputCode);
    }

    private int ClientToDaemon(Stream stdin, Stream stdout)
    {
        var reader = new LineReader(stdin, Volatile.Read(ref _limit));
        var framed = new Framer();
        try
        {
            for (var read = reader.ReadLine(); read.Kind != LineKind.End; reader.Limit = Volatile.Read(ref _limit), read = reader.ReadLine())
            {
                if (read.Kind == LineKind.Oversized)
                {
                    RefuseOversized(stdout, read, reader.Limit);
                    continue;
                }

                var line = read.Bytes;
                var info = MessageInfo.Inspect(line.Span);
                _gate.Wait();
                try
                {
                    if (_link is null && Reconnect() is { } lost)
                    {
                        // The request that asked for the reconnect is answered with why it failed (the client shows that,
                        // not a closed pipe); then the daemon-side loop, which waits for a new connection, is woken so the
                        // shim can exit.
                        if (info.Method is not null && info.Id is { } failed)
                        {
                            stdout.Write(FailedSession.Error(failed, "mcp-broker: " + lost));
                        }

                        _nextLink.TrySetResult(null);
                        return 1;
                    }

                    Track(info, line);
                    _link!.Stream.Write(framed.Frame(line).Span);
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
                {
                    if (_link is null && info.Method is not null && info.Id is { } id)
                    {
                        // The reconnect itself failed mid-way: no connection will fail this request later, so answer
                        // it now; the client's next message tries again.
                        WriteError(stdout, id, "mcp-broker: the broker daemon could not be reached; retry the request");
                    }

                    // Otherwise the daemon went away under this write; the reader side notices and fails what is in flight.
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (IOException)
        {
        }

        _inputDone = true;
        _gate.Wait();
        try
        {
            // Half-close: the daemon sees the end of input, answers what is still in flight, then closes.
            _link?.Socket.Shutdown(SocketShutdown.Send);
            _nextLink.TrySetResult(null);
        }
        catch (SocketException)
        {
        }
        finally
        {
            _gate.Release();
        }

        return 0;
    }

    private int DaemonToClient(Stream stdout)
    {
        var link = _link!;
        var framed = new Framer();
        while (true)
        {
            var reader = new LineReader(link.Stream, link.MaxMessageBytes);
            try
            {
                for (var read = reader.ReadLine(); read.Kind != LineKind.End; read = reader.ReadLine())
                {
                    if (read.Kind == LineKind.Oversized)
                    {
                        DropOversized(stdout, link, read);
                        continue;
                    }

                    var line = read.Bytes;
                    var info = MessageInfo.Inspect(line.Span);
                    if (info.IsResponse && info.Id is { } id)
                    {
                        _inFlight.TryRemove(id, out _);
                        if (id == Volatile.Read(ref _dropId))
                        {
                            // The answer to a replayed initialize: the client has had its own.
                            Volatile.Write(ref _dropId, null);
                            continue;
                        }
                    }

                    // One write per message, and a plain one: stdout is a pipe, its async write another thread-pool hop.
                    lock (_stdoutLock)
                    {
                        stdout.Write(framed.Frame(line).Span);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
            }

            // The daemon closed the connection: after our half-close that is the normal end.
            _gate.Wait();
            Task<Link?> next;
            try
            {
                FailInFlight(stdout);
                link.Dispose();
                _link = null;
                if (_inputDone)
                {
                    return 0;
                }

                next = _nextLink.Task;
            }
            finally
            {
                _gate.Release();
            }

            // Wait until the client's next message has reconnected (or stdin has ended).
            if (next.GetAwaiter().GetResult() is not { } reconnected)
            {
                return 0;
            }

            link = reconnected;
        }
    }

    /// <summary>Called with the gate held: a new daemon connection, with the client's initialization replayed; null, or why not.</summary>
    private string? Reconnect()
    {
        if (++_reconnects > MaxReconnects)
        {
            var tooMany = $"the broker daemon went away {MaxReconnects} times in this session; giving up ('mcp-broker logs' says why; restart this server in the client)";
            Program.Fail(tooMany, 1);
            return tooMany;
        }

        // Right after a daemon dies its socket may still accept for a moment (the kernel closes the dying process's
        // files one by one) and then reset the connection: one more attempt finds no listener and starts a daemon.
        var (link, error) = reconnect();
        for (var attempt = 1; link is null && attempt < ConnectAttempts; attempt++)
        {
            Thread.Sleep(TimeSpan.FromMilliseconds(100 * attempt)); // a back-off between attempts, not synchronisation
            (link, error) = reconnect();
        }

        if (link is null)
        {
            var lost = $"lost the broker daemon and could not reconnect: {error}";
            Program.Fail(lost, 1);
            return lost;
        }

        if (_initialize is not null)
        {
            Volatile.Write(ref _dropId, _initializeId);
            var framed = new Framer();
            link.Stream.Write(framed.Frame(_initialize).Span);
            if (_initialized is not null)
            {
                link.Stream.Write(framed.Frame(_initialized).Span);
            }
        }

        _link = link;
        Volatile.Write(ref _limit, link.MaxMessageBytes);
        var signal = _nextLink;
        _nextLink = new TaskCompletionSource<Link?>(TaskCreationOptions.RunContinuationsAsynchronously);
        signal.TrySetResult(link);
        return null;
    }

    private void Track(MessageInfo info, ReadOnlyMemory<byte> line)
    {
        if (info.Method is not null && info.Id is { } id)
        {
            _inFlight[id] = 0;
            if (info.Method == "initialize")
            {
                _initialize = line.ToArray();
                _initializeId = id;
            }
        }
        else if (info.Method == "notifications/initialized")
        {
            _initialized = line.ToArray();
        }
    }

    /// <summary>Called with the gate held: every request the lost daemon did not answer gets a JSON-RPC error.</summary>
    private void FailInFlight(Stream stdout)
    {
        foreach (var id in _inFlight.Keys)
        {
            if (id == _initializeId)
            {
                // An unanswered initialize is not replayed: the client learns it failed and may start over.
                _initialize = null;
                _initialized = null;
            }

            WriteError(stdout, id, "mcp-broker: the broker daemon stopped while this request was in flight; retry it (the next message reconnects)");
        }

        _inFlight.Clear();
    }

    private void WriteError(Stream stdout, string? id, string message, int code = -32603)
    {
        var error = Encoding.UTF8.GetBytes(ErrorLine(id, message, code));
        lock (_stdoutLock)
        {
            stdout.Write(error);
        }
    }

    /// <summary>A JSON-RPC error response and its newline; <paramref name="message"/> is the shim's own text, nothing to escape.</summary>
    private static string ErrorLine(string? id, string message, int code) =>
        $$$"""{"jsonrpc":"2.0","id":{{{id ?? "null"}}},"error":{"code":{{{code}}},"message":"{{{message}}}"}}""" + "\n";

    /// <summary>
    /// A client message longer than the limit, dropped unsent: answered with an error in its place (with its id when its
    /// first bytes show one, else a null id, as JSON-RPC answers a request it cannot read), unless it is a response.
    /// </summary>
    private void RefuseOversized(Stream stdout, Line line, int limit)
    {
        var info = MessageInfo.InspectDropped(line);
        Console.Error.WriteLine($"mcp-broker-client: dropped a message from the client longer than {limit} bytes (the broker's max_message_bytes)");
        if (!info.IsResponse)
        {
            WriteError(stdout, info.Id, $"mcp-broker: the message is longer than {limit} bytes (the broker's max_message_bytes) and was not sent", JsonRpcMaxed);
        }
    }

    /// <summary>
    /// A daemon message longer than the limit, dropped: an answer becomes an error for the client's request, a request of
    /// the daemon's (a server-to-client request) is answered with an error, a notification is lost (and said so).
    /// </summary>
    private void DropOversized(Stream stdout, Link link, Line line)
    {
        var info = MessageInfo.InspectDropped(line);
        Console.Error.WriteLine($"mcp-broker-client: dropped a message from the broker longer than {link.MaxMessageBytes} bytes (its max_message_bytes)");
        if (info.IsResponse && info.Id is { } id)
        {
            _inFlight.TryRemove(id, out _);
            WriteError(stdout, id, $"mcp-broker: the answer is longer than {link.MaxMessageBytes} bytes (the broker's max_message_bytes) and was dropped");
        }
        else if (info.Method is not null && info.Id is { } request)
        {
            _gate.Wait();
            try
            {
                link.Stream.Write(Encoding.UTF8.GetBytes(ErrorLine(request, $"mcp-broker-client: the request is longer than {link.MaxMessageBytes} bytes and was dropped", JsonRpcMaxed)));
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                // The connection is going: its reader notices.
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>An oversized message is an invalid request: JSON-RPC has no code of its own for it.</summary>
    private const int JsonRpcMaxed = -32600;

    /// <summary>A message and its newline in one buffer, so each message is one write; reused, one per direction.</summary>
    private sealed class Framer
    {
        private byte[] _buffer = new byte[16 * 1024];

        public ReadOnlyMemory<byte> Frame(ReadOnlyMemory<byte> line)
        {
            if (line.Length + 1 > _buffer.Length)
            {
                _buffer = new byte[Math.Max(line.Length + 1, _buffer.Length * 2)];
            }

            line.Span.CopyTo(_buffer);
            _buffer[line.Length] = (byte)'\n';
            return _buffer.AsMemory(0, line.Length + 1);
        }
    }
}
