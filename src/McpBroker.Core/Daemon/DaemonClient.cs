using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using McpBroker.Sessions;

namespace McpBroker.Daemon;

/// <summary>The CLI's side of the control requests: is a daemon answering, stop it, reload, restart an upstream, approve tools, fill the catalog.</summary>
public static class DaemonClient
{
    /// <summary>
    /// Whether something listens on the socket (it accepts a connection), answering or not: a daemon still starting,
    /// or a service manager holding the socket for the daemon it starts on the first connection.
    /// </summary>
    public static async Task<bool> ListeningAsync(string socketPath, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(socketPath))
        {
            return false;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cts.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Sends one control request; null when no daemon answers on the socket within the timeout.</summary>
    public static async Task<WelcomeMessage?> ControlAsync(string socketPath, string control, TimeSpan timeout, string? upstream = null, string? tool = null, string? profile = null,
        CancellationToken cancellationToken = default)
    {
        if (!File.Exists(socketPath))
        {
            return null;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cts.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var hello = JsonSerializer.SerializeToUtf8Bytes(new HelloMessage { Version = 1, Control = control, Pid = Environment.ProcessId, Upstream = upstream, Tool = tool, Profile = profile }, HelloJsonContext.Default.HelloMessage);
            await stream.WriteAsync(hello, cts.Token);
            await stream.WriteAsync("\n"u8.ToArray(), cts.Token);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var line = await reader.ReadLineAsync(cts.Token);
            return line is null ? null : JsonSerializer.Deserialize(line, HelloJsonContext.Default.WelcomeMessage);
        }
        catch (Exception ex) when ((ex is SocketException or IOException or OperationCanceledException or JsonException) && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }
}
