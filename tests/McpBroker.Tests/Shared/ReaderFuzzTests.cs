using System.Text;
using System.Text.Json;
using CsCheck;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Sessions;
using McpBroker.Shared;
using McpBroker.Tests.Support;
using McpBroker.Transports;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Shared;

/// <summary>
/// Generated hostile input for every reader that runs in-process: JSON-RPC lines (the readers of the shim, the daemon's
/// socket and the front door share them), the bounded line splitter under any chunking, an upstream's stdout, the hello,
/// the YAML loader and the client-config editors. Inputs are mutations of real seeds (byte ranges cut, doubled or
/// replaced by tokens that break parsers: brackets, quotes, anchors and aliases, tabs, invalid UTF-8, huge numbers). Each
/// property runs a fixed number of iterations from a fixed seed on one thread, so a run is the same every time and takes
/// a few seconds; a failure prints the shrunk input.
/// </summary>
public sealed class ReaderFuzzTests
{
    private const string Seed = "0N0XIzNsQ0O2";

    internal static readonly string[] Tokens =
    [
        "{", "}", "[", "]", "\"", ":", ",", "\n", "\\", "\\u0000", "\\ud800", "null", "true", "1e400", "-0", "1.5", "9223372036854775808",
        "\"id\":", "\"id\":{}", "\"id\":null", "\"method\":", "\"method\":42", "\"result\":", "\"jsonrpc\":\"1.0\"", "[[[[[[[[", "]]]]",
        "&a ", "*a", "<<: *a", "!!binary ", "!tag ", "\t", "- ", "? ", "|\n", ">-\n", "#", "'", "=", "[[x]]", "x = ", "\"\"\"", "'''",
        "\u00e9", "\u200b", "\ufeff", "\r\n", "  ", "\u0001",
    ];

    /// <summary>A seed with up to eight mutations.</summary>
    internal static Gen<byte[]> Mutated(IReadOnlyList<byte[]> seeds) =>
        Gen.Select(Gen.Int[0, seeds.Count - 1], Gen.Select(Gen.Int[0, 5], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20], Gen.Int[0, Tokens.Length - 1]).Array[0, 8])
            .Select((seed, mutations) => Apply(seeds[seed], mutations));

    private static byte[] Apply(byte[] seed, (int Kind, int At, int Length, int Token)[] mutations)
    {
        var bytes = new List<byte>(seed);
        foreach (var (kind, at, length, token) in mutations)
        {
            var start = bytes.Count == 0 ? 0 : at % (bytes.Count + 1);
            var count = Math.Min(bytes.Count - start, length % 16);
            switch (kind)
            {
                case 0:
                    bytes.RemoveRange(start, count);
                    break;
                case 1:
                    bytes.InsertRange(start, Encoding.UTF8.GetBytes(Tokens[token]));
                    break;
                case 2:
                    bytes.RemoveRange(start, count);
                    bytes.InsertRange(start, Encoding.UTF8.GetBytes(Tokens[token]));
                    break;
                case 3:
                    bytes.InsertRange(start, bytes.GetRange(start, count));
                    break;
                case 4:
                    bytes.Insert(start, (byte)(0x80 + (token % 0x7F))); // a byte that is never valid UTF-8 on its own
                    break;
                default:
                    bytes.RemoveRange(start, bytes.Count - start);
                    break;
            }
        }

        return [.. bytes];
    }

    internal static readonly byte[][] JsonRpcSeeds = [.. new[]
    {
        """{"jsonrpc":"2.0","id":1,"method":"ping"}""",
        """{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"t.echo","arguments":{"message":"hi"}}}""",
        """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
        """{"result":{"content":[{"type":"text","text":"x"}]},"id":7,"jsonrpc":"2.0"}""",
        """{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}}""",
        """[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]""",
        """{"jsonrpc":"2.0","id":{"id":2},"method":"ping","params":{"id":5,"method":"tools/list"}}""",
    }.Select(Encoding.UTF8.GetBytes)];

    [Fact]
    public void JsonRpcLine_AnyBytes_EveryReaderAnswersWithoutThrowing_AndTheyAgree()
    {
        var sdk = McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage));
        Mutated(JsonRpcSeeds).FuzzSample(line =>
        {
            var fault = JsonRpcCheck.Check(line);
            var info = MessageInfo.Inspect(line);
            for (var cut = 0; cut <= line.Length; cut += Math.Max(1, line.Length / 7))
            {
                MessageInfo.Inspect(line.AsSpan(0, cut), complete: false);
                MessageInfo.IdAtEnd(line.AsSpan(line.Length - cut));
            }

            // -32700 exactly when the line is not JSON; an id in an answer is the one the shim tracks.
            Assert.Equal(!IsJson(line), fault?.Code == JsonRpcCheck.ParseError);
            if (fault is { Id: { } id })
            {
                Assert.Equal(info.Id, id);
            }

            // What the SDK's parser takes, the check lets through: nothing the server would serve is refused.
            if (Parses(line, sdk))
            {
                Assert.Null(fault);
            }

            if (fault is not null)
            {
                using var answer = JsonDocument.Parse(JsonRpcCheck.ErrorResponse(fault.Value));
                Assert.Equal(fault.Value.Code, answer.RootElement.GetProperty("error").GetProperty("code").GetInt32());
            }
        }, seed: Seed, iter: 20_000, threads: 1, print: Print);
    }

    [Fact]
    public void LineBuffer_AnyStreamAnyChunkingAnyLimit_GivesTheLinesAndReportsTheLongOnesWithTheirEnds()
    {
        var gen = Gen.Select(
            Gen.Select(Gen.Int[0, 400], Gen.Bool, Gen.Byte[(byte)'a', (byte)'z']).Array[0, 12],
            Gen.Int[1, 300],
            Gen.Int[1, 500].Array[1, 8]);
        gen.FuzzSample((lines, limit, chunks) =>
        {
            var whole = string.Concat(lines.Select(l => new string((char)l.Item3, l.Item1) + (l.Item2 ? "\n" : "")));
            var input = new MemoryStream(Encoding.ASCII.GetBytes(whole));

            // The reference: split on newlines; what follows the last one is the last line, if anything does.
            var parts = whole.Split('\n');
            var expected = parts.Take(parts.Length - 1).Concat(parts[^1].Length > 0 ? [parts[^1]] : [])
                .Select(text => text.Length > limit ? (LineKind.Oversized, text, text[^Math.Min(text.Length, LineBuffer.TailBytes)..]) : (LineKind.Message, text, ""))
                .ToList();

            using var buffer = new LineBuffer(limit);
            var source = input.ToArray();
            var read = 0;
            var actual = new List<(LineKind, string, string)>();
            for (var chunk = 0; ; chunk++)
            {
                if (!buffer.TryTake(out var line))
                {
                    // As the daemon's socket reader does between messages: nothing pending, no buffer held.
                    if (buffer.IsEmpty)
                    {
                        buffer.Release();
                    }

                    var free = buffer.Free();
                    var n = Math.Min(Math.Min(free.Length, chunks[chunk % chunks.Length]), source.Length - read);
                    source.AsSpan(read, n).CopyTo(free.Span);
                    read += n;
                    buffer.Advance(n);
                    continue;
                }

                if (line.Kind == LineKind.End)
                {
                    break;
                }

                actual.Add((line.Kind, Encoding.ASCII.GetString(line.Bytes.Span), line.Kind == LineKind.Oversized ? Encoding.ASCII.GetString(line.Tail.Span) : ""));
            }

            // An oversized line's start is what had arrived when it passed the limit: more than the limit, at most PrefixBytes.
            Assert.Equal(expected.Select(e => (e.Item1, e.Item3)), actual.Select(a => (a.Item1, a.Item3)));
            foreach (var (want, got) in expected.Zip(actual))
            {
                Assert.True(want.Item1 == LineKind.Message
                    ? want.Item2 == got.Item2
                    : want.Item2.StartsWith(got.Item2, StringComparison.Ordinal) && got.Item2.Length >= Math.Min(want.Item2.Length, limit + 1) && got.Item2.Length <= LineBuffer.PrefixBytes,
                    $"{want.Item1} of {want.Item2.Length} at limit {limit}: got {got.Item1} of {got.Item2.Length}");
            }
        }, seed: Seed, iter: 3_000, threads: 1);
    }

    [Fact]
    public void LineBuffer_ReleaseWithALinePending_KeepsItAndReleasesOnlyWhenEmpty()
    {
        using var buffer = new LineBuffer(100);
        "{\"a\":1}\n{\"b\""u8.CopyTo(buffer.Free().Span);
        buffer.Advance(12);

        Assert.True(buffer.TryTake(out var first));
        Assert.Equal("{\"a\":1}", Encoding.ASCII.GetString(first.Bytes.Span));
        Assert.False(buffer.IsEmpty);
        buffer.Release();
        Assert.False(buffer.TryTake(out _));
        ":2}\n"u8.CopyTo(buffer.Free().Span);
        buffer.Advance(4);

        Assert.True(buffer.TryTake(out var second));
        Assert.Equal("{\"b\":2}", Encoding.ASCII.GetString(second.Bytes.Span));
        Assert.True(buffer.IsEmpty);
        buffer.Release();
        Assert.False(buffer.Free().IsEmpty);
    }

    [Fact]
    public async Task UpstreamStdout_AnyLines_PassesTheShortOnesWhole_AndDropsTheLongOnes()
    {
        var gen = Gen.Select(Gen.Select(Gen.Int[0, 200], Gen.Byte[(byte)'a', (byte)'z']).Array[0, 10], Gen.Int[1, 150]);
        await gen.FuzzSampleAsync(async sample =>
        {
            var (lines, limit) = sample;
            var text = string.Concat(lines.Select(l => new string((char)l.Item2, l.Item1) + "\n"));
            using var stream = new LineLimitStream(new MemoryStream(Encoding.ASCII.GetBytes(text)), limit);
            using var reader = new StreamReader(stream);
            Assert.Equal(string.Concat(lines.Where(l => l.Item1 <= limit).Select(l => new string((char)l.Item2, l.Item1) + "\n")), await reader.ReadToEndAsync());
        }, seed: Seed, iter: 1_000, threads: 1);
    }

    [Fact]
    public void Hello_AnyBytes_IsAHelloOrAJsonException()
    {
        var seeds = new[]
        {
            """{"mcp_broker":1,"profile":"raw","session":"6f9619ff-8b86-d011-b42d-00cf4fc964ff","client":"codex","cwd":"/abs","pid":123,"token":"t"}""",
            """{"mcp_broker":1,"control":"status"}""",
        }.Select(Encoding.UTF8.GetBytes).ToArray();
        Mutated(seeds).FuzzSample(line =>
        {
            try
            {
                JsonSerializer.Deserialize(line, HelloJsonContext.Default.HelloMessage);
            }
            catch (JsonException)
            {
                // Refused as bad_hello by the listener, which catches exactly this.
            }
        }, seed: Seed, iter: 10_000, threads: 1, print: Print);
    }

    [Fact]
    public void ConfigLoader_MalformedYaml_GivesIssuesNeverAnExceptionOrAHang()
    {
        var seeds = new[]
        {
            ConfigLoader.StarterYaml,
            """
            schema_version: 1
            runtime: { root: /tmp/mb-fuzz }
            broker: { idle_timeout: 10m, max_message_bytes: 65536, http: { listen: "127.0.0.1:7000" } }
            profiles:
              p: &p { compact_tools_enabled: true, allow_mutating_upstreams: ["*"] }
              q: *p
            upstreams:
              a: { command: /bin/true, args: [x, "{runtime.root}"], env: { K: v }, timeouts: { call: 5s } }
              b: { transport: http, url: "https://example.com/mcp", headers: { Authorization: "Bearer ${T}" }, env_from: { T: HOME } }
            clients:
              c: { format: codex-toml, profile: p }
            """,
            "a: &a [x,x,x,x]\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\nd: [*c,*c,*c,*c]\n",
        }.Select(Encoding.UTF8.GetBytes).ToArray();
        Mutated(seeds).FuzzSample(bytes =>
        {
            var text = Encoding.UTF8.GetString(bytes);
            var load = Task.Run(() => ConfigLoader.Load(text, "/tmp/mb-fuzz/broker.yaml", _ => null));
            Assert.True(load.Wait(TimeSpan.FromSeconds(10)), "the loader did not finish within 10 s");
            var result = load.Result;
            Assert.True(result.IsValid || result.Issues.Any(i => i.Severity == IssueSeverity.Error));
            Assert.All(result.Issues, i => Assert.False(string.IsNullOrWhiteSpace(i.Message)));
        }, seed: Seed, iter: 1_500, threads: 1, print: b => Encoding.UTF8.GetString(b));
    }

    public static TheoryData<string, string> ClientFormats => new()
    {
        { "codex-toml", "toml" }, { "claude-json", "json" }, { "gemini-settings", "json" }, { "vscode", "json" }, { "opencode", "json" },
    };

    [Theory]
    [MemberData(nameof(ClientFormats))]
    public void ClientConfigEditor_MalformedFile_IsAClearErrorOrAFileThatReadsBack(string format, string ext)
    {
        var fixture = File.ReadAllBytes(Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", "clients", $"{format}.input.{ext}"));
        var client = new ClientModel(format, McpBroker.Clients.ClientFormats.Parse(format)!.Value, "/home/dev/" + format, "mcp-broker", "default", null);
        var entry = new ClientEntry("mcp-broker", "/opt/mcp-broker/bin/mcp-broker-client", ["--profile", "default"]);
        Mutated([fixture]).FuzzSample(bytes =>
        {
            var original = bytes.ToArray();
            ClientRender render;
            try
            {
                render = ClientRenderer.Render(client, entry, bytes, ["github"]);
            }
            catch (ClientConfigException ex)
            {
                // Refused: the file is left as it was (nothing is written), and the message names it.
                Assert.Contains(client.ConfigPath, ex.Message, StringComparison.Ordinal);
                Assert.Equal(original, bytes);
                return;
            }

            // Accepted: what it would write reads back, with the entry in it.
            Assert.Contains(ClientServers.Read(client.Format, render.After, client.ConfigPath), s => s.Name == "mcp-broker");
        }, seed: Seed, iter: 1_500, threads: 1, print: b => Encoding.UTF8.GetString(b));
    }

    // What the generators found, kept as plain cases.

    [Fact]
    public void ConfigLoader_FlowSequenceWithTextAfterIt_IsAnIssueNotAnException()
    {
        // YamlDotNet's scanner throws InvalidOperationException here, not a YamlException.
        var result = ConfigLoader.Load("schema_version: 1\nprofiles:\n  p: { allow_mutating_upstreams: [\"*\"]p\n", "/tmp/mb-fuzz/broker.yaml", _ => null);
        Assert.False(result.IsValid);
        Assert.Contains(result.Issues, i => i.Message.StartsWith("not valid YAML", StringComparison.Ordinal));
    }

    [Fact]
    public void CodexToml_BackslashAtTheEndOfTheFile_IsAClearErrorNotAnException()
    {
        // Tomlyn's lexer throws ArgumentOutOfRangeException (Char.ConvertFromUtf32 of the end of the text) on this escape.
        var client = new ClientModel("codex", McpBroker.Clients.ClientFormats.Parse("codex-toml")!.Value, "/home/dev/.codex/config.toml", "mcp-broker", "default", null);
        var entry = new ClientEntry("mcp-broker", "/opt/mcp-broker/bin/mcp-broker-client", ["--profile", "default"]);
        var file = Encoding.UTF8.GetBytes("[profiles.fast]\nmodel = \"gpt-5\\");
        var ex = Assert.Throws<ClientConfigException>(() => ClientRenderer.Render(client, entry, file, []));
        Assert.Contains("not valid TOML", ex.Message, StringComparison.Ordinal);
        Assert.Contains(client.ConfigPath, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigLoader_TagThatIsNoUri_IsAnIssueNotAnException()
    {
        // YamlDotNet throws ArgumentException ("Global tags must be valid URIs") here, not a YamlException.
        var result = ConfigLoader.Load("a: &a !!btruein[*a\n", "/tmp/mb-fuzz/broker.yaml", _ => null);
        Assert.False(result.IsValid);
        Assert.Contains(result.Issues, i => i.Message.StartsWith("not valid YAML", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xA5, (byte)'"', (byte)':', (byte)'1', (byte)'}' }, "not valid UTF-8 text")]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'m', (byte)'c', (byte)'p', (byte)'S', (byte)'e', (byte)'r', (byte)'v', (byte)'e', (byte)'r', (byte)'s', (byte)'"', (byte)':', (byte)'{', (byte)'"', (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0', (byte)'"', (byte)':', (byte)'{', (byte)'}', (byte)'}', (byte)'}' }, "not valid Unicode")]
    public void ClientConfig_TextThatIsNoText_IsAClearError(byte[] file, string message)
    {
        var client = new ClientModel("c", ClientFormat.ClaudeJson, "/home/dev/.claude.json", "mcp-broker", "default", null);
        var error = Assert.Throws<ClientConfigException>(() => ClientRenderer.Render(client, new ClientEntry("mcp-broker", "/bin/shim", []), file, []));
        Assert.StartsWith("/home/dev/.claude.json: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonRpcCheck_NameWithHalfASurrogatePair_IsAnInvalidRequest()
    {
        var fault = JsonRpcCheck.Check("""{"jsonrpc":"2.0","\ud800":1,"id":1,"method":"ping"}"""u8);
        Assert.Equal(JsonRpcCheck.InvalidRequest, fault?.Code);
    }

    private static bool Parses(byte[] line, System.Text.Json.Serialization.Metadata.JsonTypeInfo sdk)
    {
        try
        {
            return JsonSerializer.Deserialize(line, sdk) is JsonRpcMessage;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    private static bool IsJson(byte[] line)
    {
        try
        {
            using var _ = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = 100_000 });
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Print(byte[] bytes) => Convert.ToHexString(bytes) + " " + Encoding.UTF8.GetString(bytes);
}
