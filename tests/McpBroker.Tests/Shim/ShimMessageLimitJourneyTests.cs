using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Shim;

/// <summary>
/// The real shim against a stand-in daemon whose welcome says max_message_bytes 65536: a message longer than that,
/// either way, is dropped as it streams through and answered in its place, and the session goes on.
/// </summary>
public sealed class ShimMessageLimitJourneyTests
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(30);
    private const int Limit = 65536;
    private const string Notification = """{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"after"}}""";
    private static readonly string s_pad = new('x', 3 * Limit);

    [Fact]
    public async Task ClientMessageLongerThanTheLimit_IsAnsweredByTheShimWithItsId_AndNotSent()
    {
        await using var pair = await Pair.StartAsync();
        await pair.Shim.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t.echo","arguments":{"message":" """ + s_pad + "\"}}}");
        await pair.Shim.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":5,"method":"ping"}""");
        await pair.Shim.StandardInput.FlushAsync();

        using var error = JsonDocument.Parse(await pair.Shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit) ?? "");
        Assert.Equal(4, error.RootElement.GetProperty("id").GetInt32());
        Assert.Equal(-32600, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains($"longer than {Limit} bytes", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        // The daemon's side sees the next message first: the long one never reached it.
        Assert.Equal("""{"jsonrpc":"2.0","id":5,"method":"ping"}""", await SocketLines.ReadLineAsync(pair.Connection, s_limit));
    }

    [Fact]
    public async Task DaemonAnswerLongerThanTheLimit_BecomesAnErrorForTheRequest_AndTheSessionGoesOn()
    {
        await using var pair = await Pair.StartAsync();
        await pair.Shim.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":9,"method":"tools/list"}""");
        await pair.Shim.StandardInput.FlushAsync();
        await SocketLines.ReadLineAsync(pair.Connection, s_limit);

        // The SDK's order: the id after the result.
        await pair.Connection.SendAsync(Encoding.UTF8.GetBytes("""{"result":{"tools":[{"name":" """ + s_pad + "\"}]},\"id\":9,\"jsonrpc\":\"2.0\"}\n" + Notification + "\n"));
        using var error = JsonDocument.Parse(await pair.Shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit) ?? "");
        Assert.Equal(9, error.RootElement.GetProperty("id").GetInt32());
        Assert.Contains("max_message_bytes", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(Notification, await pair.Shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit));
    }

    [Fact]
    public async Task DaemonRequestLongerThanTheLimit_IsAnsweredToTheDaemon_AndNotRelayed()
    {
        await using var pair = await Pair.StartAsync();
        await pair.Connection.SendAsync(Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":"r1","method":"sampling/createMessage","params":{"pad":" """ + s_pad + "\"}}\n" + Notification + "\n"));

        using var error = JsonDocument.Parse(await SocketLines.ReadLineAsync(pair.Connection, s_limit));
        Assert.Equal("r1", error.RootElement.GetProperty("id").GetString());
        Assert.Equal(-32600, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(Notification, await pair.Shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit));
    }

    /// <summary>A shim process connected to a stand-in daemon on a socket of the test's own, past the welcome.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private readonly string _dir;
        private readonly Socket _listener;

        private Pair(string dir, Socket listener, Process shim, Socket connection) => (_dir, _listener, Shim, Connection) = (dir, listener, shim, connection);

        public Process Shim { get; }

        public Socket Connection { get; }

        public static async Task<Pair> StartAsync()
        {
            var dir = Directory.CreateTempSubdirectory("mbl-").FullName;
            var path = Path.Combine(dir, "d.sock");
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            var shim = Process.Start(new ProcessStartInfo(Repo.Shim, ["--socket", path, "--client", "test"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            _ = shim.StandardError.ReadToEndAsync();
            var connection = await listener.AcceptAsync().WaitAsync(s_limit);
            await SocketLines.ReadLineAsync(connection, s_limit);
            await connection.SendAsync(Encoding.UTF8.GetBytes($$"""{"mcp_broker":1,"ok":true,"session":"s","max_message_bytes":{{Limit}}}""" + "\n"));
            return new Pair(dir, listener, shim, connection);
        }

        public async ValueTask DisposeAsync()
        {
            Shim.StandardInput.Close();
            Connection.Dispose();
            await Shim.WaitForExitAsync().WaitAsync(s_limit);
            Shim.Dispose();
            _listener.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }
}
