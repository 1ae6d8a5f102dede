using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Transports;

/// <summary>
/// What an endless line costs the daemon: 200 MB without a newline on a session, at the default limit (16 MiB), is
/// dropped as it streams in — the daemon's resident memory stays near where it was, during and after — and the daemon
/// answers the next session. (300 MB held 5.4 GB, kept after the connection closed.)
/// </summary>
public sealed class FramingMemoryJourneyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(60);

    /// <summary>Generous: the limit (16 MiB) and the buffers grown on the way to it, with room for the GC's own timing.</summary>
    private const long AllowedGrowthKb = 120 * 1024;

    [LinuxFact]
    public async Task TwoHundredMegabytesWithoutANewline_DoNotStayResident_AndTheNextSessionIsAnswered()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root));
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        var pid = env.DaemonPid!.Value;

        using (var warm = await SessionAsync(env))
        {
            await PingAsync(warm);
        }

        var before = ResidentKb(pid);
        var peak = before;
        using (var flood = await SessionAsync(env))
        {
            var chunk = Encoding.ASCII.GetBytes(new string('x', 1024 * 1024));
            for (var mb = 0; mb < 200; mb++)
            {
                await flood.SendAsync(chunk, SocketFlags.None).WaitAsync(s_limit);
                if (mb % 20 == 0)
                {
                    peak = Math.Max(peak, ResidentKb(pid));
                }
            }
        }

        using (var next = await SessionAsync(env))
        {
            await PingAsync(next);
        }

        var after = ResidentKb(pid);
        output.WriteLine($"daemon VmRSS: {before / 1024} MB before, {peak / 1024} MB at most while 200 MB streamed in, {after / 1024} MB after");
        Assert.True(peak - before < AllowedGrowthKb, $"resident memory rose from {before / 1024} MB to {peak / 1024} MB while the line streamed in");
        Assert.True(after - before < AllowedGrowthKb, $"resident memory was {before / 1024} MB before and {after / 1024} MB after");
    }

    private static long ResidentKb(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);

    private static async Task<Socket> SessionAsync(BrokerEnvironment env)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(env.SocketPath)).WaitAsync(s_limit);
        await socket.SendAsync(Encoding.UTF8.GetBytes("""{"mcp_broker":1,"profile":"raw","client":"test"}""" + "\n"
            + """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}""" + "\n"
            + """{"jsonrpc":"2.0","method":"notifications/initialized"}""" + "\n"));
        Assert.Contains("\"ok\":true", await SocketLines.ReadLineAsync(socket, s_limit), StringComparison.Ordinal);
        Assert.Contains("\"id\":0", await SocketLines.ReadLineAsync(socket, s_limit), StringComparison.Ordinal);
        return socket;
    }

    private static async Task PingAsync(Socket socket)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":"p","method":"ping"}""" + "\n"));
        using var pong = JsonDocument.Parse(await SocketLines.ReadLineAsync(socket, s_limit));
        Assert.Equal("p", pong.RootElement.GetProperty("id").GetString());
    }
}
