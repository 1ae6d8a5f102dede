using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace McpBroker.Tests.Support;

/// <summary>An npm reference server in one of its HTTP modes on a free 127.0.0.1 port, killed with its children on dispose.</summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly Process _process;

    private LoopbackServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Starts <c>mcp-server-everything MODE</c> (streamableHttp or sse) and waits until it accepts connections.</summary>
    public static async Task<LoopbackServer> StartEverythingAsync(string mode)
    {
        await NpmUpstreams.EnsureInstalledAsync();
        var port = FreePort();
        var start = new ProcessStartInfo(Repo.NodeBin("mcp-server-everything")) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(mode);
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new LoopbackServer(process, port);
        try
        {
            await Wait.UntilAsync(() => Listening(port), $"mcp-server-everything {mode} to listen on port {port}");
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var probe = new TcpClient();
            probe.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        _process.Dispose();
    }
}
