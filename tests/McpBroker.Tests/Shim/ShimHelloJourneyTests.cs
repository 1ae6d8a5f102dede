using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Shim;

/// <summary>
/// The shim against a stand-in daemon on a socket of the test's own: the hello's answer however it arrives, no answer,
/// and a client that stops reading. The real shim process; the stand-in speaks only the hello.
/// </summary>
public sealed class ShimHelloJourneyTests
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(30);
    private const string Notification = """{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"right behind the welcome"}}""";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WelcomeWithTheFirstMessageRightBehindIt_TheShimRelaysThatMessageWhole(bool welcomeInTwoWrites)
    {
        using var daemon = StandIn.Listen();
        using var shim = StartShim(daemon.Path);
        using var connection = await daemon.AcceptAsync();
        var hello = await SocketLines.ReadLineAsync(connection, s_limit);
        Assert.Contains("\"mcp_broker\":1", hello, StringComparison.Ordinal);

        // The welcome and the session's first message in one write (or the welcome cut in two, which the kernel may
        // still deliver as one read: nothing short of a pause would force the split): the shim must take the welcome
        // line and not a byte more, so the message reaches the client intact.
        const string Welcome = """{"mcp_broker":1,"ok":true,"session":"s"}""";
        var cut = welcomeInTwoWrites ? Welcome.Length / 2 : 0;
        if (cut > 0)
        {
            await connection.SendAsync(Encoding.UTF8.GetBytes(Welcome[..cut]));
        }

        await connection.SendAsync(Encoding.UTF8.GetBytes(Welcome[cut..] + "\n" + Notification + "\n"));

        Assert.Equal(Notification, await shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit));
        shim.StandardInput.Close();
        Assert.Equal("", await ReadToEndAsync(connection)); // the shim half-closes when its stdin ends
        connection.Shutdown(SocketShutdown.Both);
        await shim.WaitForExitAsync().WaitAsync(s_limit);
        Assert.Equal(0, shim.ExitCode);
    }

    [Fact]
    public async Task ClientStopsReadingWithARequestInFlight_TheShimGoesOnUntilStdinEnds()
    {
        using var daemon = StandIn.Listen();
        using var shim = StartShim(daemon.Path);
        using var connection = await daemon.AcceptAsync();
        await SocketLines.ReadLineAsync(connection, s_limit);
        await connection.SendAsync(Encoding.UTF8.GetBytes("""{"mcp_broker":1,"ok":true,"session":"s"}""" + "\n"));
        await shim.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""");
        await shim.StandardInput.FlushAsync();
        Assert.Contains("\"id\":1", await SocketLines.ReadLineAsync(connection, s_limit), StringComparison.Ordinal);

        // The client closes its end of the shim's stdout: what the daemon sends now meets a broken pipe, and so does the
        // error the shim owes the request in flight when the connection ends. Neither may crash the shim.
        shim.StandardOutput.Close();
        await connection.SendAsync(Encoding.UTF8.GetBytes(Notification + "\n"));
        shim.StandardInput.Close();
        Assert.Equal("", await ReadToEndAsync(connection));
        connection.Shutdown(SocketShutdown.Both);
        await shim.WaitForExitAsync().WaitAsync(s_limit);
        Assert.Equal("", await shim.StandardError.ReadToEndAsync());
        Assert.Equal(0, shim.ExitCode);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":42}""")]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":null}""")]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":{}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":[1]}""")]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":true}""")]
    [InlineData("""{"jsonrpc":"2.0","id":8,"method":"tools/list","method":42}""")]
    [InlineData("""{"jsonrpc":"2.0","id":{"method":"tools/call","id":99},"method":"x"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":[99],"result":{"id":98}}""")]
    public async Task MessageWhoseMethodOrIdHasTheWrongShape_IsRelayedBothWays_AndOnlyRealRequestsAreAnsweredWhenTheDaemonGoes(string odd)
    {
        using var daemon = StandIn.Listen();
        using var shim = StartShim(daemon.Path);
        using (var connection = await daemon.AcceptAsync())
        {
            await SocketLines.ReadLineAsync(connection, s_limit);
            await connection.SendAsync(Encoding.UTF8.GetBytes("""{"mcp_broker":1,"ok":true,"session":"s"}""" + "\n"));

            // Client to daemon: the odd message, then a real request; both arrive as they were written.
            await shim.StandardInput.WriteLineAsync(odd);
            await shim.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":9,"method":"tools/list"}""");
            await shim.StandardInput.FlushAsync();
            Assert.Equal(odd, await SocketLines.ReadLineAsync(connection, s_limit));
            Assert.Equal("""{"jsonrpc":"2.0","id":9,"method":"tools/list"}""", await SocketLines.ReadLineAsync(connection, s_limit));

            // Daemon to client: the same odd message, then a notification; both reach the client.
            await connection.SendAsync(Encoding.UTF8.GetBytes(odd + "\n" + Notification + "\n"));
            Assert.Equal(odd, await shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit));
            Assert.Equal(Notification, await shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit));
        }

        // The daemon goes with request 9 in flight: the client gets an error for 9, and for nothing the odd message
        // only seemed to hold (an inner "id" of 99 or 98).
        var answer = await shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit);
        Assert.StartsWith("""{"jsonrpc":"2.0","id":9,"error":""", answer, StringComparison.Ordinal);
        shim.StandardInput.Close();
        await shim.WaitForExitAsync().WaitAsync(s_limit);
        Assert.DoesNotContain("\"id\":9", await shim.StandardOutput.ReadToEndAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", await shim.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
        Assert.Equal(0, shim.ExitCode);
    }

    [Fact]
    public async Task DaemonClosesWithoutAnswering_TheShimAnswersTheClientWithTheReason_AndExitsNonZeroWhenInputEnds()
    {
        using var daemon = StandIn.Listen();
        using var shim = StartShim(daemon.Path);
        using (var connection = await daemon.AcceptAsync())
        {
            await SocketLines.ReadLineAsync(connection, s_limit);
        }

        // The client's initialize is answered with the reason (clients show that), not with a closed pipe.
        await shim.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}""");
        await shim.StandardInput.FlushAsync();
        var answer = await shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit);
        Assert.StartsWith("""{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"mcp-broker: the broker daemon closed the connection without answering""", answer,
            StringComparison.Ordinal);
        shim.StandardInput.Close();
        await shim.WaitForExitAsync().WaitAsync(s_limit);
        Assert.Equal(1, shim.ExitCode);
        Assert.Equal("", await shim.StandardOutput.ReadToEndAsync());
        Assert.Contains("the broker daemon closed the connection without answering", await shim.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
    }

    private static ShimProcess StartShim(string socketPath) => new(Process.Start(new ProcessStartInfo(Repo.Shim, ["--socket", socketPath, "--client", "test"])
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        UseShellExecute = false,
    })!);

    /// <summary>The shim's process, killed at the end of the test if it is still running (a failed assertion).</summary>
    private sealed class ShimProcess(Process process) : IDisposable
    {
        public StreamWriter StandardInput => process.StandardInput;

        public StreamReader StandardOutput => process.StandardOutput;

        public StreamReader StandardError => process.StandardError;

        public int ExitCode => process.ExitCode;

        public Task WaitForExitAsync() => process.WaitForExitAsync();

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }

    private static async Task<string> ReadToEndAsync(Socket connection)
    {
        var all = new List<byte>();
        var buffer = new byte[4096];
        for (int n; (n = await connection.ReceiveAsync(buffer).WaitAsync(s_limit)) > 0;)
        {
            all.AddRange(buffer.AsSpan(0, n));
        }

        return Encoding.UTF8.GetString([.. all]);
    }

    /// <summary>A listening Unix socket in a folder of its own, removed with it.</summary>
    private sealed class StandIn : IDisposable
    {
        private readonly Socket _listener;
        private readonly string _dir;

        private StandIn(Socket listener, string dir) => (_listener, _dir) = (listener, dir);

        public string Path => System.IO.Path.Combine(_dir, "d.sock");

        public static StandIn Listen()
        {
            var dir = Directory.CreateTempSubdirectory("mbh-").FullName;
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(System.IO.Path.Combine(dir, "d.sock")));
            listener.Listen(1);
            return new StandIn(listener, dir);
        }

        public async Task<Socket> AcceptAsync() => await _listener.AcceptAsync().WaitAsync(s_limit);

        public void Dispose()
        {
            _listener.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }
}
