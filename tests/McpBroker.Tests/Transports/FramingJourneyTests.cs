using System.Diagnostics;
using CsCheck;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Transports;

/// <summary>
/// The daemon's socket session against what a broken or hostile client writes: lines that are not JSON, not JSON-RPC,
/// or longer than <c>broker.max_message_bytes</c> (64 KiB here). Each gets the answer JSON-RPC asks for — -32700 or
/// -32600, with the request's id when it can be read and null when not — and the session goes on. One daemon for the
/// class, from a plain socket, each case a session of its own.
/// </summary>
public sealed class FramingJourneyTests(FramingJourneyTests.Daemon daemon) : IClassFixture<FramingJourneyTests.Daemon>
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(30);
    private const int Limit = 65536;
    private const string Ping = """{"jsonrpc":"2.0","id":"after","method":"ping"}""";

    [Theory]
    [InlineData("not json", -32700, null)]
    [InlineData("""{"jsonrpc":"2.0","id":5,"method":"ping" """, -32700, "5")]
    [InlineData("""{"jsonrpc":"2.0","method":"ping","params":{]},"id":5}""", -32700, null)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"ping"}]""", -32600, null)]
    [InlineData("[]", -32600, null)]
    [InlineData("42", -32600, null)]
    [InlineData("\"ping\"", -32600, null)]
    [InlineData("null", -32600, null)]
    [InlineData("true", -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":{"id":1},"method":"ping"}""", -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":[1],"method":"ping"}""", -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":true,"method":"ping"}""", -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":null,"method":"ping"}""", -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":1.5,"method":"ping"}""", -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":1e400,"method":"ping"}""", -32600, null)]
    [InlineData("""{"id":5,"method":"ping"}""", -32600, "5")]
    [InlineData("""{"jsonrpc":"1.0","id":"five","method":"ping"}""", -32600, "\"five\"")]
    [InlineData("""{"jsonrpc":"2.0","id":5,"method":42}""", -32600, "5")]
    [InlineData("""{"jsonrpc":"2.0","id":5}""", -32600, "5")]
    [InlineData("""{"jsonrpc":"2.0","method":{"x":1}}""", -32600, null)]
    public async Task MalformedMessage_IsAnsweredAsJsonRpcSays_AndTheSessionGoesOn(string line, int code, string? id)
    {
        using var session = await daemon.SessionAsync();
        await session.SendAsync(Encoding.UTF8.GetBytes(line + "\n" + Ping + "\n"));

        using var error = JsonDocument.Parse(await session.ReadLineAsync());
        Assert.Equal(code, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(id ?? "null", error.RootElement.GetProperty("id").GetRawText());
        await AnswersPingAsync(session);
    }

    [Fact]
    public async Task MalformedResponse_IsNotAnswered_AndTheSessionGoesOn()
    {
        using var session = await daemon.SessionAsync();
        await session.SendAsync(Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":{"x":1},"result":{}}""" + "\n" + Ping + "\n"));
        await AnswersPingAsync(session);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MessageLongerThanTheLimit_IsAnsweredWithItsId_AndTheSessionGoesOn(bool withNewline)
    {
        using var session = await daemon.SessionAsync();
        var head = """{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"t.echo","arguments":{"message":" """;
        var big = Encoding.UTF8.GetBytes(head + new string('x', 3 * Limit) + "\"}}}" + (withNewline ? "\n" : ""));
        await session.SendAsync(big);
        if (!withNewline)
        {
            // Still no newline: the daemon has held none of it past the limit, and answers once the line ends.
            await session.SendAsync("\n"u8.ToArray());
        }

        using var error = JsonDocument.Parse(await session.ReadLineAsync());
        Assert.Equal(77, error.RootElement.GetProperty("id").GetInt32());
        Assert.Equal(-32600, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains($"longer than {Limit} bytes (broker.max_message_bytes)", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        await session.SendAsync(Encoding.UTF8.GetBytes(Ping + "\n"));
        await AnswersPingAsync(session);
    }

    [Theory]
    [InlineData(false, "78")]
    [InlineData(true, "null")]
    public async Task MessageLongerThanTheLimitWithItsIdPastTheStart_IsAnsweredWithTheIdFromItsEnd_OrNull(bool moreAfterTheId, string id)
    {
        // The MCP SDK writes the id last: it is read from the dropped line's last bytes. Buried in the middle, it is lost.
        using var session = await daemon.SessionAsync();
        var pad = new string('x', 2 * Limit);
        var big = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"pad\":\"" + pad + "\"},\"id\":78"
            + (moreAfterTheId ? ",\"more\":{\"pad\":\"" + pad + "\"}" : "") + "}\n" + Ping + "\n");
        await session.SendAsync(big);

        using var error = JsonDocument.Parse(await session.ReadLineAsync());
        Assert.Equal(id, error.RootElement.GetProperty("id").GetRawText());
        await AnswersPingAsync(session);
    }

    [Fact]
    public async Task UnparseableLineThenEndOfInput_TheSessionClosesAtOnce()
    {
        // It used to wait 5 s for the line to reach the server, which it never would.
        using var session = await daemon.SessionAsync();
        await session.SendAsync(Encoding.UTF8.GetBytes("not json\n"));
        Assert.Contains("-32700", await session.ReadLineAsync(), StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        session.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("", await session.ReadLineAsync());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"the session took {clock.Elapsed.TotalSeconds:0.0} s to close");
    }

    [Fact]
    public async Task UpstreamAnswerLongerThanTheLimit_FailsTheCallAtOnceSayingWhy_AndTheUpstreamGoesOn()
    {
        // 'big' answers echo with its message 2000 times over: 200 KB from a 100-byte request. The SDK writes the id after
        // the result, so it is found in the dropped line's last bytes; without it the call would wait out its 20 s timeout.
        await using var client = await daemon.Env.ConnectAsync("raw");
        var result = await client.CallToolAsync("big.echo", new Dictionary<string, object?> { ["message"] = new string('y', 100) });
        var text = string.Concat(result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text));
        Assert.True(result.IsError == true, text);
        Assert.Contains("longer than 65536 bytes (broker.max_message_bytes)", text, StringComparison.Ordinal);

        Assert.Equal("echo: " + string.Concat(Enumerable.Repeat("z", 2000)), await BrokerEnvironment.CallTextAsync(client, "big.echo", new() { ["message"] = "z" }));
    }

    [Theory]
    [InlineData("not json", 400, -32700, null)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"ping"}]""", 400, -32600, null)]
    [InlineData("7", 400, -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":{"a":1},"method":"initialize"}""", 400, -32600, null)]
    [InlineData("""{"jsonrpc":"2.0","id":2.5,"method":"initialize"}""", 400, -32600, null)]
    [InlineData("""{"id":5,"method":"initialize"}""", 400, -32600, "5")]
    public async Task FrontDoorMalformedBody_IsAnsweredAsJsonRpcSays(string body, int status, int code, string? id)
    {
        var (actual, answer) = await daemon.PostAsync(new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(status, actual);
        using var error = JsonDocument.Parse(answer);
        Assert.Equal(code, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(id ?? "null", error.RootElement.GetProperty("id").GetRawText());
        Assert.Equal(200, (await daemon.PostAsync(new StringContent(Initialize, Encoding.UTF8, "application/json"))).Status);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FrontDoorBodyLongerThanTheLimit_Is413WithAJsonRpcError_AndTheDoorGoesOn(bool announcedLength)
    {
        var big = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":91,"method":"tools/call","params":{"name":"t.echo","arguments":{"message":" """ + new string('x', 3 * Limit) + "\"}}}");
        HttpContent content = announcedLength ? new ByteArrayContent(big) : new StreamContent(new MemoryStream(big)); // a stream of unknown length goes chunked
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        if (!announcedLength)
        {
            content.Headers.ContentLength = null;
        }

        var (status, answer) = await daemon.PostAsync(content);
        Assert.Equal(413, status);
        using var error = JsonDocument.Parse(answer);
        Assert.Equal(-32600, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("max_message_bytes", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        // Read as far as the limit, the id is known; refused on its announced length alone, it is not.
        Assert.Equal(announcedLength ? "null" : "91", error.RootElement.GetProperty("id").GetRawText());
        Assert.Equal(200, (await daemon.PostAsync(new StringContent(Initialize, Encoding.UTF8, "application/json"))).Status);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GeneratedBatchOfMalformedFrames_EveryRequestWithAReadableIdIsAnsweredExactlyOnce_AndTheSessionSurvives(bool throughTheShim)
    {
        var (lines, expected) = Batch();
        var wire = Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n" + """{"jsonrpc":"2.0","id":"end","method":"ping"}""" + "\n");
        Func<Task<string>> readLine;
        Session? session = null;
        Process? shim = null;
        if (throughTheShim)
        {
            shim = Process.Start(new ProcessStartInfo(Repo.Shim, ["--socket", daemon.Env.SocketPath, "--profile", "raw", "--client", "fuzz"])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            })!;
            _ = shim.StandardError.ReadToEndAsync();
            await shim.StandardInput.BaseStream.WriteAsync(Encoding.UTF8.GetBytes(
                """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}""" + "\n"
                + """{"jsonrpc":"2.0","method":"notifications/initialized"}""" + "\n"));
            await shim.StandardInput.BaseStream.FlushAsync();
            readLine = async () => await shim.StandardOutput.ReadLineAsync().WaitAsync(s_limit) ?? "";
            Assert.Contains("\"id\":0", await readLine(), StringComparison.Ordinal);
            await shim.StandardInput.BaseStream.WriteAsync(wire);
            await shim.StandardInput.BaseStream.FlushAsync();
        }
        else
        {
            session = await daemon.SessionAsync();
            readLine = session.ReadLineAsync;
            await session.SendAsync(wire);
        }

        try
        {
            var answered = new Dictionary<string, int>(StringComparer.Ordinal);
            var done = false;
            while (!done || expected.Keys.Any(k => answered.GetValueOrDefault(k) < expected[k]))
            {
                using var answer = JsonDocument.Parse(await readLine());
                var key = Key(answer.RootElement.GetProperty("id"));
                done |= key == "s:end";
                answered[key] = answered.GetValueOrDefault(key) + 1;
            }

            answered.Remove("s:end");
            Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), answered.OrderBy(e => e.Key, StringComparer.Ordinal));
            Assert.True(expected.Count > 50, $"the batch held only {expected.Count} requests with an id to answer");
        }
        finally
        {
            session?.Dispose();
            if (shim is not null)
            {
                shim.StandardInput.Close();
                await shim.WaitForExitAsync().WaitAsync(s_limit);
                Assert.Equal(0, shim.ExitCode);
                shim.Dispose();
            }
        }

        // The daemon is still there for everyone else.
        using var after = await daemon.SessionAsync();
        await after.SendAsync(Encoding.UTF8.GetBytes(Ping + "\n"));
        await AnswersPingAsync(after);
    }

    /// <summary>
    /// 150 generated frames (a fixed seed): requests whose tail after the id is mutated, and mutated JSON-RPC of every
    /// kind; and the answers each should get, by id ("null" for those whose id cannot be read), predicted the way the
    /// daemon reads: what the SDK parses is served (a request answered), anything else answered with its fault unless it
    /// is a response. Lines that would share an id with an earlier one are left out, so each id is answered once.
    /// </summary>
    private static (List<string> Lines, Dictionary<string, int> Expected) Batch()
    {
        var sdk = ModelContextProtocol.McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(ModelContextProtocol.Protocol.JsonRpcMessage));
        string[] methods = ["ping", "tools/list", "nope/x", "resources/list"];
        var frame = CsCheck.Gen.Frequency(
            (2, CsCheck.Gen.Select(CsCheck.Gen.Int[0, methods.Length - 1], Shared.ReaderFuzzTests.Mutated([Encoding.UTF8.GetBytes(""","params":{"a":[1,2,{"b":"c"}]}}""")]))
                .Select((m, tail) => Encoding.UTF8.GetBytes($"{{\"jsonrpc\":\"2.0\",\"id\":ID,\"method\":\"{methods[m]}\"").Concat(tail).ToArray())),
            (1, Shared.ReaderFuzzTests.Mutated(Shared.ReaderFuzzTests.JsonRpcSeeds)));
        var frames = frame.Array[150].Single(_ => true, "0N0XIzNsQ0O2");
        var lines = new List<string>();
        var expected = new Dictionary<string, int>(StringComparer.Ordinal);
        var next = 1000;
        foreach (var bytes in frames)
        {
            foreach (var text in Encoding.UTF8.GetString(bytes).Replace("ID", (next++).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal).Split('\n'))
            {
                var line = Encoding.UTF8.GetBytes(text);
                string? key;
                try
                {
                    key = Predict(line, sdk);
                }
                catch (Exception ex) when (ex is InvalidOperationException or JsonException)
                {
                    continue; // an id that is no text: not one to count answers by
                }

                if (key is not null && key != "null" && expected.ContainsKey(key))
                {
                    continue;
                }

                lines.Add(text);
                if (key is not null)
                {
                    expected[key] = expected.GetValueOrDefault(key) + 1;
                }
            }
        }

        return (lines, expected);
    }

    private static string? Predict(byte[] line, System.Text.Json.Serialization.Metadata.JsonTypeInfo sdk)
    {
        if (line.AsSpan().IndexOfAnyExcept(" \t\r"u8) < 0)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(line, sdk) is ModelContextProtocol.Protocol.JsonRpcRequest request ? Key(JsonSerializer.SerializeToElement(request.Id, ModelContextProtocol.McpJsonUtilities.DefaultOptions)) : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
        }

        var info = McpBroker.Shared.MessageInfo.Inspect(line);
        var fault = McpBroker.Shared.JsonRpcCheck.Check(line) ?? new McpBroker.Shared.JsonRpcFault(-32600, "", info.Id, !info.IsResponse);
        return !fault.Answer ? null : fault.Id is { } id ? Key(JsonDocument.Parse(id).RootElement) : "null";
    }

    private static string Key(JsonElement id) => id.ValueKind switch
    {
        JsonValueKind.String => "s:" + id.GetString(),
        JsonValueKind.Number => "n:" + id.GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => "null",
    };

    private const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}""";

    private static async Task AnswersPingAsync(Session session)
    {
        using var pong = JsonDocument.Parse(await session.ReadLineAsync());
        Assert.Equal("after", pong.RootElement.GetProperty("id").GetString());
        Assert.True(pong.RootElement.TryGetProperty("result", out _), pong.RootElement.GetRawText());
    }

    /// <summary>A welcomed, initialized session on a plain socket.</summary>
    internal sealed class Session(Socket socket) : IDisposable
    {
        public Socket Socket => socket;

        public async Task SendAsync(byte[] bytes) => await socket.SendAsync(bytes.AsMemory(), SocketFlags.None).AsTask().WaitAsync(s_limit);

        public Task<string> ReadLineAsync() => SocketLines.ReadLineAsync(socket, s_limit);

        public void Dispose() => socket.Dispose();
    }

    /// <summary>The daemon the class's tests connect to: max_message_bytes 64 KiB, the test upstream and 'big'.</summary>
    public sealed class Daemon : IAsyncLifetime
    {
        private readonly HttpClient _http = new();
        private readonly int _port = LoopbackServer.FreePort();

        internal BrokerEnvironment Env { get; private set; } = null!;

        /// <summary>A POST to the front door's raw profile with the door's token; the status and the body.</summary>
        internal async Task<(int Status, string Body)> PostAsync(HttpContent content)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_port}/mcp/raw") { Content = content };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            var token = (await File.ReadAllTextAsync(Path.Combine(Env.Root, "secrets", "http-token"))).Trim();
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var response = await _http.SendAsync(request).WaitAsync(s_limit);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        public async Task InitializeAsync()
        {
            Env = await BrokerEnvironment.CreateAsync(root => $$"""
                schema_version: 1
                runtime: { root: "{{root}}" }
                broker: { max_message_bytes: {{Limit}}, call_timeout: 20s, http: { listen: "127.0.0.1:{{_port}}" } }
                profiles:
                  raw: { compact_tools_enabled: false }
                upstreams:
                  t: { command: "{{Repo.TestUpstream}}" }
                  big: { command: "{{Repo.TestUpstream}}", args: ["--echo-repeat", "2000"] }
                """);
            Assert.Equal(0, (await Env.RunCliAsync("daemon", "--detach", "--config", Env.ConfigPath)).ExitCode);
        }

        internal async Task<Session> SessionAsync()
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Env.SocketPath)).WaitAsync(s_limit);
            var session = new Session(socket);
            await session.SendAsync(Encoding.UTF8.GetBytes("""{"mcp_broker":1,"profile":"raw","client":"test"}""" + "\n"
                + """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}""" + "\n"
                + """{"jsonrpc":"2.0","method":"notifications/initialized"}""" + "\n"));
            using var welcome = JsonDocument.Parse(await session.ReadLineAsync());
            Assert.Equal(Limit, welcome.RootElement.GetProperty("max_message_bytes").GetInt32());
            using var initialized = JsonDocument.Parse(await session.ReadLineAsync());
            Assert.Equal(0, initialized.RootElement.GetProperty("id").GetInt32());
            return session;
        }

        public async Task DisposeAsync()
        {
            _http.Dispose();
            await Env.DisposeAsync();
        }
    }
}
