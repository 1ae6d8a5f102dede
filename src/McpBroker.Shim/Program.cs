using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using McpBroker.Shared;

namespace McpBroker.Shim;

/// <summary>
/// mcp-broker-client: connects the MCP client on stdin/stdout to the broker daemon's socket. It sends one hello
/// line, reads one answer line, then relays newline-delimited messages both ways unchanged (see <see cref="Relay"/>).
/// It starts the daemon when none answers.
/// </summary>
internal static class Program
{
    private const string Usage = "usage: mcp-broker-client [--profile NAME] [--config PATH] [--client NAME] [--socket PATH] [--token-file PATH] [--view raw]";
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan s_helloTimeout = TimeSpan.FromSeconds(15);
    private const int MaxWelcomeBytes = 1024 * 1024;

    private static int Main(string[] args) => Run(args);

    /// <summary>
    /// Runs the shim on this process's stdin and stdout. Blocking throughout, on purpose: the shim is started once per
    /// client session and its first answer is on the client's critical path, so the way to the daemon's welcome and
    /// the relay itself use plain blocking calls on two threads of their own instead of the thread pool and the
    /// socket engine's epoll thread (each a thread to start and a hop to schedule on a busy machine).
    /// </summary>
    internal static int Run(string[] args)
    {
        string profile = "default", client = "unknown";
        string? config = null, tokenFile = null, view = null, socketPath = Environment.GetEnvironmentVariable(BrokerEndpoints.SocketVariable);
        for (var i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            var value = args[i] switch
            {
                "--profile" => profile = Next() ?? "",
                "--config" => config = Next(),
                "--client" => client = Next() ?? "",
                "--socket" => socketPath = Next(),
                "--token-file" => tokenFile = Next(),
                "--view" => view = Next(),
                "--version" => "version",
                "-h" or "--help" => "help",
                _ => null,
            };
            if (value is "help" or "version")
            {
                Console.Out.WriteLine(value == "help" ? Usage : typeof(Program).Assembly.GetName().Version?.ToString(3));
                return 0;
            }

            if (value is null or "")
            {
                var wrong = args[i].StartsWith('-') ? $"'{args[i]}' needs a value or is not an option" : $"unexpected argument '{args[i]}'";
                return FailedSession.Serve(StandardStreams.Input(), StandardStreams.Output(), $"{wrong}; fix the args of this client's mcp-broker entry ({Usage})", 2);
            }
        }

        string? token = null;
        if (tokenFile is not null)
        {
            try
            {
                token = File.ReadAllText(tokenFile).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return FailedSession.Serve(StandardStreams.Input(), StandardStreams.Output(),
                    $"cannot read the token file {tokenFile}: {ex.Message}; fix --token-file in this client's mcp-broker entry", 1);
            }
        }

        var configPath = BrokerEndpoints.ResolveConfigPath(config);
        var sessionId = Guid.NewGuid().ToString();
        var hello = new Hello(profile, client, sessionId, token, view);
        var first = Open(socketPath, configPath, hello);
        if (first.Error is { } error)
        {
            // The client is still owed an answer: the reason goes where it shows a server's state, not only to stderr.
            return FailedSession.Serve(StandardStreams.Input(), StandardStreams.Output(), error, 1);
        }

        var relay = new Relay(first.Link!, () => Open(socketPath, configPath, hello));
        return relay.Run(StandardStreams.Input(), StandardStreams.Output());
    }

    /// <summary>A welcomed connection for this session: found (or started) daemon, hello sent, answer read.</summary>
    private static (Link? Link, string? Error) Open(string? socketPath, string configPath, Hello hello)
    {
        var socket = Connect(socketPath, configPath, hello.Client);
        if (socket.Error is { } error)
        {
            return (null, error);
        }

        var stream = new NetworkStream(socket.Socket!, ownsSocket: true);
        string? refused;
        var limit = LineBuffer.DefaultLimit;
        try
        {
            (refused, limit) = SayHello(socket.Socket!, stream, hello);
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            // A daemon that dies while this connection waits in its listen queue resets it mid-hello.
            refused = $"the broker daemon dropped the connection during the hello ({ex.Message})";
        }

        if (refused is not null)
        {
            stream.Dispose();
            return (null, refused);
        }

        return (new Link(socket.Socket!, stream, limit), null);
    }

    private static (Socket? Socket, string? Error) Connect(string? socketPath, string configPath, string client)
    {
        if (!string.IsNullOrEmpty(socketPath))
        {
            var (explicitSocket, reason) = TryConnect(socketPath);
            return explicitSocket is not null ? (explicitSocket, null) : (null, $"no broker daemon answers on {socketPath}: {reason}");
        }

        var pointer = BrokerEndpoints.PointerPath(configPath);
        if (File.Exists(pointer) && TryConnect(File.ReadAllText(pointer).Trim()).Socket is { } known)
        {
            return (known, null);
        }

        // Slow path: ask the CLI to start the daemon (or find the running one); it prints the socket path.
        var (started, output) = StartDaemon(configPath, client);
        if (!started)
        {
            return (null, output);
        }

        var (fresh, why) = TryConnect(output);
        return fresh is not null ? (fresh, null) : (null, $"the daemon started but does not answer on {output}: {why}");
    }

    private static (Socket? Socket, string? Reason) TryConnect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return (socket, null);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            return (null, ex.Message);
        }
    }

    private static (bool Ok, string Output) StartDaemon(string configPath, string client)
    {
        var cli = FindCli();
        if (cli is null)
        {
            return (false, "cannot start the broker daemon: 'mcp-broker' is neither beside mcp-broker-client nor on PATH (set MCP_BROKER_CLI)");
        }

        var start = new ProcessStartInfo(cli)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Named where the daemon's environment says it came from, when this start is the one that captures it.
        start.Environment["MCP_BROKER_STARTED_BY"] = $"mcp-broker-client --client {client} (pid {Environment.ProcessId})";
        foreach (var arg in new[] { "daemon", "--detach", "--config", configPath })
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(s_startTimeout))
            {
                return (false, $"the broker daemon did not start within {s_startTimeout.TotalSeconds:0} s");
            }

            return process.ExitCode == 0
                ? (true, stdout.GetAwaiter().GetResult().Trim())
                : (false, "cannot start the broker daemon: " + (OneLine(stderr.GetAwaiter().GetResult()) is { Length: > 0 } message ? message : $"'mcp-broker daemon --detach' failed with exit code {process.ExitCode}; 'mcp-broker doctor' says why"));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (false, $"cannot run {cli}: {ex.Message}");
        }
    }

    private static string? FindCli()
    {
        var explicitCli = Environment.GetEnvironmentVariable("MCP_BROKER_CLI");
        if (!string.IsNullOrEmpty(explicitCli))
        {
            return explicitCli;
        }

        var name = OperatingSystem.IsWindows() ? "mcp-broker.exe" : "mcp-broker";
        var beside = Path.Combine(AppContext.BaseDirectory, name);
        if (File.Exists(beside))
        {
            return beside;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// Sends the hello line and reads the answer line. Returns null when welcomed, else why not; and the largest message
    /// the daemon takes (its <c>broker.max_message_bytes</c>), which the shim holds both directions to.
    /// </summary>
    private static (string? Refused, int Limit) SayHello(Socket socket, NetworkStream stream, Hello hello)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("mcp_broker", 1);
            writer.WriteString("profile", hello.Profile);
            writer.WriteString("session", hello.SessionId);
            writer.WriteString("client", hello.Client);
            if (hello.Token is not null)
            {
                writer.WriteString("token", hello.Token);
            }

            if (hello.View is not null)
            {
                // "raw": the profile's raw view, whatever its compact setting (the daemon refuses any other).
                writer.WriteString("view", hello.View);
            }

            writer.WriteString("cwd", Environment.CurrentDirectory);
            writer.WriteNumber("pid", Environment.ProcessId);
            writer.WriteEndObject();
        }

        System.Buffers.BuffersExtensions.Write(buffer, "\n"u8);

        // A daemon that refuses the connection outright (another user) answers and closes before reading the hello:
        // a failed write still leaves its answer to read.
        try
        {
            stream.Write(buffer.WrittenSpan);
        }
        catch (IOException)
        {
        }

        // A daemon answers at once; one that accepted but never answers (hung, or stopped mid-accept) must not hang the
        // client with it.
        socket.ReceiveTimeout = (int)s_helloTimeout.TotalMilliseconds;
        byte[] line;
        try
        {
            line = ReadWelcome(socket);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            return ($"the broker daemon accepted the connection but did not answer within {s_helloTimeout.TotalSeconds:0} s; 'mcp-broker doctor' checks it", 0);
        }

        socket.ReceiveTimeout = 0; // the relay's reads wait as long as the session lasts
        return ParseWelcome(line);
    }

    /// <summary>
    /// The daemon's one-line answer, without its newline, and not a byte past it (what follows is the session's, for
    /// the relay): it peeks at what has arrived and takes only up to the newline — two reads where one a byte took a
    /// read per byte. Empty when the daemon closed the connection first. A welcome is small: an answer longer than
    /// <see cref="MaxWelcomeBytes"/> is not a broker's, and is not read further.
    /// </summary>
    private static byte[] ReadWelcome(Socket socket)
    {
        var line = new List<byte>(256);
        var peeked = new byte[4096];
        var peek = !OperatingSystem.IsWindows(); // Windows does not document MSG_PEEK on AF_UNIX: a byte at a time there
        while (true)
        {
            var available = peek ? socket.Receive(peeked, SocketFlags.Peek) : socket.Receive(peeked, 0, 1, SocketFlags.None);
            if (available == 0)
            {
                return [.. line];
            }

            var newline = Array.IndexOf(peeked, (byte)'\n', 0, available);
            var take = newline >= 0 ? newline + 1 : available;
            for (int taken = peek ? 0 : take, n; taken < take; taken += n)
            {
                // What was peeked is there to take; 0 only if the connection broke in between.
                if ((n = socket.Receive(peeked, taken, take - taken, SocketFlags.None)) == 0)
                {
                    return [];
                }
            }

            line.AddRange(peeked.AsSpan(0, newline >= 0 ? newline : take));
            if (newline >= 0 || line.Count > MaxWelcomeBytes)
            {
                return [.. line];
            }
        }
    }

    private static (string? Refused, int Limit) ParseWelcome(byte[] line)
    {
        if (line.Length == 0)
        {
            return ("the broker daemon closed the connection without answering", 0);
        }

        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True)
            {
                // A daemon from before the setting was sent: the default it had then.
                return (null, root.TryGetProperty("max_message_bytes", out var max) && max.TryGetInt32(out var limit) && limit > 0 ? limit : LineBuffer.DefaultLimit);
            }

            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object
                || !error.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.String)
            {
                return ("the broker refused the session", 0);
            }

            var fix = error.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String && code.ValueEquals("unknown_profile")
                ? "; fix: name one of those profiles in this client's mcp-broker entry, or add the profile to the config"
                : "";
            return ($"the broker refused the session: {message.GetString()}{fix}", 0);
        }
        catch (JsonException)
        {
            return ("the broker daemon answered with something other than JSON; is the socket a broker's?", 0);
        }
    }

    /// <summary>
    /// The CLI's error output as one short line a client can show whole (Claude Code cuts a server's error at a few
    /// hundred characters): its first error, shortened, how many more there are, and its last line, which says the fix.
    /// </summary>
    private static string OneLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.StartsWith("mcp-broker: ", StringComparison.Ordinal) ? line["mcp-broker: ".Length..] : line)
            .Select(line => line.StartsWith("error: ", StringComparison.Ordinal) ? line["error: ".Length..] : line)
            .ToList();
        static string Short(string line, int max) => line.Length <= max ? line : line[..(max - 1)] + "…";
        return lines.Count switch
        {
            0 => "",
            1 => Short(lines[0], 300),
            _ => Short(lines[0], 160) + (lines.Count > 2 ? $" (and {lines.Count - 2} more)" : "") + "; "
                + lines[^1].Replace("fix the errors above", "fix these errors", StringComparison.Ordinal),
        };
    }

    internal static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"mcp-broker-client: {message}");
        return code;
    }
}

/// <summary>What the shim says about itself in every hello, the first and any after a reconnect.</summary>
internal sealed record Hello(string Profile, string Client, string SessionId, string? Token, string? View = null);

/// <summary>
/// The shim for a host process: <c>mcp-broker shim</c> (what a .NET tool install puts in client configs, since a tool
/// package has one command) and <c>mcp-broker stdio</c> run it in-process on their own stdin and stdout.
/// </summary>
public static class ShimEntry
{
    public static int Run(string[] args) => Program.Run(args);

    /// <summary>The same on a thread of its own, for a host that goes on doing something else meanwhile.</summary>
    public static Task<int> RunAsync(string[] args) =>
        Task.Factory.StartNew(() => Program.Run(args), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}

