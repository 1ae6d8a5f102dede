using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using McpBroker.Sessions;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// The daemon's side of the hello, from a plain socket: a hello with the session's first message right behind it, and
/// hellos it refuses. One daemon for the class; each case is a connection of its own.
/// </summary>
public sealed class HelloJourneyTests(HelloJourneyTests.Daemon daemon) : IClassFixture<HelloJourneyTests.Daemon>
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task HelloAndInitializeInOneWrite_TheSessionAnswersTheInitialize()
    {
        using var socket = await ConnectAsync();
        var hello = """{"mcp_broker":1,"profile":"raw","client":"test"}""";
        var initialize = """{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}""";

        await socket.SendAsync(Encoding.UTF8.GetBytes(hello + "\n" + initialize + "\n"));

        using var welcome = JsonDocument.Parse(await SocketLines.ReadLineAsync(socket, s_limit));
        Assert.True(welcome.RootElement.GetProperty("ok").GetBoolean());
        using var answer = JsonDocument.Parse(await SocketLines.ReadLineAsync(socket, s_limit));
        Assert.Equal(7, answer.RootElement.GetProperty("id").GetInt32());
        Assert.Equal("mcp-broker", answer.RootElement.GetProperty("result").GetProperty("serverInfo").GetProperty("name").GetString());
    }

    [Theory]
    [InlineData("not json", "the hello line is not JSON; connect with mcp-broker-client")]
    [InlineData("""{"mcp_broker":2}""", "the hello line must be a JSON object with \"mcp_broker\": 1; is the client older or newer than the daemon?")]
    public async Task HelloThatIsNotOne_IsRefusedWithWhatIsWrong(string line, string message)
    {
        Assert.Equal(message, await RefusalAsync(Encoding.UTF8.GetBytes(line + "\n")));
    }

    [Fact]
    public async Task HelloLongerThanTheLimit_IsRefused_AndOneAtTheLimitIsRead()
    {
        static byte[] HelloOf(int length)
        {
            var head = """{"mcp_broker":1,"profile":"raw","client":"x""";
            return Encoding.UTF8.GetBytes(head + new string('x', length - head.Length - 2) + "\"}\n");
        }

        Assert.Equal($"the hello line is longer than {SessionListener.MaxHelloBytes} bytes", await RefusalAsync(HelloOf(SessionListener.MaxHelloBytes + 1)));

        using var socket = await ConnectAsync();
        await socket.SendAsync(HelloOf(SessionListener.MaxHelloBytes));
        using var welcome = JsonDocument.Parse(await SocketLines.ReadLineAsync(socket, s_limit));
        Assert.True(welcome.RootElement.GetProperty("ok").GetBoolean());
    }

    private async Task<string> RefusalAsync(byte[] hello)
    {
        using var socket = await ConnectAsync();
        await socket.SendAsync(hello);
        using var answer = JsonDocument.Parse(await SocketLines.ReadLineAsync(socket, s_limit));
        Assert.False(answer.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal("bad_hello", answer.RootElement.GetProperty("error").GetProperty("code").GetString());
        return answer.RootElement.GetProperty("error").GetProperty("message").GetString()!;
    }

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(daemon.Env.SocketPath)).WaitAsync(s_limit);
        return socket;
    }

    /// <summary>The daemon the class's tests connect to.</summary>
    public sealed class Daemon : IAsyncLifetime
    {
        internal BrokerEnvironment Env { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root));
            Assert.Equal(0, (await Env.RunCliAsync("daemon", "--detach", "--config", Env.ConfigPath)).ExitCode);
        }

        public async Task DisposeAsync() => await Env.DisposeAsync();
    }
}
