using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Facade;
using McpBroker.Platform;
using McpBroker.Transports;
using McpBroker.Upstreams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// Accepts connections on the broker socket. Each connection says hello (profile, session id), gets one
/// answer line, and then is an MCP server session bound to its profile, until either side closes it.
/// </summary>
internal sealed partial class SessionListener(
    Socket listener,
    SessionServices services,
    IControlRequests control,
    ILoggerFactory loggerFactory) : BackgroundService
{
    private BrokerModel model => services.Config.Current;
    public const int MaxHelloBytes = 16 * 1024;
    private static readonly TimeSpan s_helloTimeout = TimeSpan.FromSeconds(10);
    private readonly ILogger _logger = loggerFactory.CreateLogger<SessionListener>();
    private readonly ClientErrorLogging _sessionLogging = new(loggerFactory);
    private readonly ConcurrentDictionary<Task, byte> _connections = new();
    private readonly TimeSpan _drainLimit = services.Config.Current.Upstreams.Select(u => u.CallTimeout + u.StartTimeout).DefaultIfEmpty(TimeSpan.FromSeconds(30)).Max();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogListening(model.Runtime.SocketPath);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var socket = await listener.AcceptAsync(stoppingToken);
                var task = HandleAsync(socket, stoppingToken);
                _connections.TryAdd(task, 0);
                _ = task.ContinueWith(t => _connections.TryRemove(t, out _), TaskScheduler.Default);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            listener.Dispose();
            await Task.WhenAll(_connections.Keys).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task HandleAsync(Socket socket, CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            var peer = Native.PeerUserId(socket.Handle);
            if (peer is { } uid && uid != Native.EffectiveUserId)
            {
                LogRefusedPeer(uid);
                await ReplyAsync(stream, Refuse("forbidden", "this broker serves only the user that runs it"), stoppingToken);
                return;
            }

            var hello = await ReadHelloAsync(stream, stoppingToken);
            if (hello.Error is { } error)
            {
                await ReplyAsync(stream, new WelcomeMessage { Ok = false, Error = error }, stoppingToken);
                return;
            }

            var message = hello.Message!;
            if (message.Control is not null)
            {
                await ReplyAsync(stream, await control.AnswerAsync(message, stoppingToken), stoppingToken);
                control.AfterAnswer(message);
                return;
            }

            var profileName = string.IsNullOrEmpty(message.Profile) ? ProfileModel.DefaultName : message.Profile;
            if (!model.Profiles.TryGetValue(profileName, out var profile))
            {
                await ReplyAsync(stream, Refuse("unknown_profile",
                    $"no profile named '{profileName}' in {model.SourcePath}; defined: {string.Join(", ", model.Profiles.Keys)}"), stoppingToken);
                return;
            }

            if (profile.RequireTokenFile is { } tokenFile && TokenFiles.Exposed(tokenFile))
            {
                await ReplyAsync(stream, Refuse("forbidden",
                    $"the token file of profile '{profileName}' ({tokenFile}) is readable by other users, so it proves nothing; run chmod 600 {tokenFile}"), stoppingToken);
                return;
            }

            if (profile.RequireTokenFile is { } requiredToken && !TokenFiles.Matches(requiredToken, message.Token))
            {
                LogTokenRefused(profileName);
                await ReplyAsync(stream, Refuse("forbidden",
                    $"profile '{profileName}' requires its token: start the client with mcp-broker-client --token-file PATH (the file named by profiles.{profileName}.require_token_file)"), stoppingToken);
                return;
            }

            switch (message.View)
            {
                case null:
                    break;
                case "raw":
                    // The same tools, gates and names; only the listing differs. It shows nothing call_tool could not reach.
                    profile = profile with { CompactToolsEnabled = false, MaxTools = int.MaxValue, OnOverBudget = OverBudgetAction.Error };
                    break;
                default:
                    await ReplyAsync(stream, Refuse("bad_hello", $"unknown view '{message.View}'; the only view is 'raw'"), stoppingToken);
                    return;
            }

            var sessionId = Guid.TryParse(message.Session, out var g) ? g.ToString() : Guid.NewGuid().ToString();
            if (services.Peers.Find(sessionId) is { } live && live.Profile.Name != profile.Name)
            {
                // A shim resuming its session names its own id; one naming a live session of another profile would take over its replies.
                await ReplyAsync(stream, Refuse("session_in_use", $"session {sessionId} is connected with another profile; start a new session"), stoppingToken);
                return;
            }

            var limit = model.Settings.MaxMessageBytes;
            await ReplyAsync(stream, new WelcomeMessage { Ok = true, Session = sessionId, DaemonPid = Environment.ProcessId, MaxMessageBytes = limit }, stoppingToken);
            await RunSessionAsync(stream, profile, sessionId, message.Client ?? "unknown", limit, stoppingToken);
        }
        catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            // An assembly that cannot load is an install fault, not a dropped connection: say so, or sessions end silently.
            LogSessionFailed(ex);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task RunSessionAsync(NetworkStream stream, ProfileModel profile, string sessionId, string client, int maxMessageBytes, CancellationToken ct)
    {
        LogSessionStarted(sessionId, profile.Name, client);
        var pending = new PendingRequests();
        var session = new BrokerSession(services, profile, sessionId, client, _logger);
        var options = await session.OptionsAsync(ct);
        options.Filters.Message.IncomingFilters.Add(pending.IncomingFilter);
        options.Filters.Message.OutgoingFilters.Add(pending.OutgoingFilter);
        try
        {
            var transport = new SocketServerTransport(stream, pending, _drainLimit, maxMessageBytes, sessionId, loggerFactory);
            session.InputEnded = transport.InputEnded;
            await using var server = McpServer.Create(transport, options, _sessionLogging);
            await session.RunAsync(server, ct);
        }
        finally
        {
            session.End();
            LogSessionEnded(sessionId);
        }
    }

    /// <summary>
    /// The hello line, peeked at and taken up to its newline: not a byte past it (what follows is the session's, read by
    /// the MCP server), and two reads where one a byte took a read per byte.
    /// </summary>
    private static async Task<(HelloMessage? Message, HelloError? Error)> ReadHelloAsync(NetworkStream stream, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(s_helloTimeout);
        var socket = stream.Socket;
        var buffer = new byte[MaxHelloBytes + 1];
        var length = 0;
        var peek = !OperatingSystem.IsWindows(); // Windows does not document MSG_PEEK on AF_UNIX: a byte at a time there
        while (true)
        {
            var available = peek
                ? await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.Peek, timeout.Token)
                : await socket.ReceiveAsync(buffer.AsMemory(length, 1), SocketFlags.None, timeout.Token);
            if (available == 0)
            {
                return (null, new HelloError("bad_hello", "the connection closed before its hello line"));
            }

            var newline = buffer.AsSpan(length, available).IndexOf((byte)'\n');
            var take = newline >= 0 ? newline + 1 : available;
            for (int taken = peek ? 0 : take, n; taken < take; taken += n)
            {
                // What was peeked is there to take; 0 only if the connection broke in between.
                if ((n = await socket.ReceiveAsync(buffer.AsMemory(length + taken, take - taken), SocketFlags.None, timeout.Token)) == 0)
                {
                    return (null, new HelloError("bad_hello", "the connection closed before its hello line"));
                }
            }

            length += newline >= 0 ? newline : take;
            if (length > MaxHelloBytes)
            {
                return (null, new HelloError("bad_hello", $"the hello line is longer than {MaxHelloBytes} bytes"));
            }

            if (newline >= 0)
            {
                break;
            }
        }

        try
        {
            var hello = JsonSerializer.Deserialize(buffer.AsSpan(0, length), HelloJsonContext.Default.HelloMessage);
            return hello is { Version: 1 }
                ? (hello, null)
                : (null, new HelloError("bad_hello", "the hello line must be a JSON object with \"mcp_broker\": 1; is the client older or newer than the daemon?"));
        }
        catch (JsonException)
        {
            return (null, new HelloError("bad_hello", "the hello line is not JSON; connect with mcp-broker-client"));
        }
    }

    internal static WelcomeMessage Refuse(string code, string message) => new() { Ok = false, Error = new HelloError(code, message) };

    private static async Task ReplyAsync(Stream stream, WelcomeMessage message, CancellationToken ct)
    {
        // Control answers leave the daemon too (errors can quote an upstream's); status is masked where it is built.
        message = message with
        {
            Error = message.Error is { } error ? error with { Message = SecretMask.Mask(error.Message) } : null,
            Message = message.Message is { } text ? SecretMask.Mask(text) : null,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(message, HelloJsonContext.Default.WelcomeMessage);
        await stream.WriteAsync(bytes, ct);
        await stream.WriteAsync("\n"u8.ToArray(), ct);
        await stream.FlushAsync(ct);
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Listening on {SocketPath}")]
    private partial void LogListening(string socketPath);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Refused a connection from uid {Uid}")]
    private partial void LogRefusedPeer(uint uid);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Session {SessionId} started: profile {Profile}, client {Client}")]
    private partial void LogSessionStarted(string sessionId, string profile, string client);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Session {SessionId} ended")]
    private partial void LogSessionEnded(string sessionId);

    [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Refused a session for profile {Profile}: missing or wrong token")]
    private partial void LogTokenRefused(string profile);

    [LoggerMessage(EventId = 306, Level = LogLevel.Error, Message = "A session failed: the broker's installation is incomplete")]
    private partial void LogSessionFailed(Exception exception);
}
