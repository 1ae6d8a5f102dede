using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Facade;

namespace McpBroker.Tests.Exposure;

/// <summary>The config of the HTTP front door and transparent profiles, and how resources and prompts are named.</summary>
public sealed class ResourceNamesTests
{
    private static ConfigLoadResult Load(string broker, string profiles) => ConfigLoader.Load($"""
        schema_version: 1
        runtime: {"{"} root: "/tmp/mb-protocol-unit" {"}"}
        broker: {broker}
        profiles: {profiles}
        upstreams:
          a: {"{"} command: npx {"}"}
          b: {"{"} command: npx, prefix: bee {"}"}
        """, "/etc/broker.yaml", _ => null);

    private static string Errors(ConfigLoadResult result) => string.Join("\n", result.Errors.Select(e => e.ToString()));

    [Fact]
    public void FrontDoor_Defaults_AndTheUrlOfAProfile()
    {
        var result = Load("{ http: { listen: \"127.0.0.1:8765\" } }", "{ default: {} }");

        Assert.True(result.IsValid, Errors(result));
        var http = result.Model!.Settings.Http!;
        Assert.Equal("/tmp/mb-protocol-unit/secrets/http-token", http.TokenFile);
        Assert.Empty(http.AllowedOrigins);
        Assert.Equal("http://127.0.0.1:8765/mcp/default", http.Url("default"));
        Assert.Null(Load("{}", "{ default: {} }").Model!.Settings.Http);
    }

    [Theory]
    [InlineData("{ http: {} }", "broker.http.listen", "say where to listen")]
    [InlineData("{ http: { listen: \"8765\" } }", "broker.http.listen", "is not HOST:PORT")]
    [InlineData("{ http: { listen: \"127.0.0.1:0\" } }", "broker.http.listen", "a port from 1 to 65535")]
    [InlineData("{ http: { listen: \"0.0.0.0:8765\" } }", "broker.http.listen", "'0.0.0.0' is not a loopback address")]
    [InlineData("{ http: { listen: \"example.com:8765\" } }", "broker.http.listen", "'example.com' is not a loopback address")]
    [InlineData("{ http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"http://localhost:6274/app\"] } }", "broker.http.allowed_origins[0]", "is not an origin")]
    [InlineData("{ http: { listen: \"127.0.0.1:8765\", allowed_origins: [\"localhost\"] } }", "broker.http.allowed_origins[0]", "is not an origin")]
    public void FrontDoor_BadSettings_AreRefusedWithThePathAndTheFix(string broker, string path, string message)
    {
        var result = Load(broker, "{ default: {} }");

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("{ t: { transparent: true } }", "this one sees 2 (a, b)")]
    [InlineData("{ t: { transparent: true, upstreams: [a], compact_tools_enabled: true } }", "remove compact_tools_enabled: true or transparent: true")]
    public void TransparentProfile_NeedsExactlyOneUpstream_AndARawView(string profiles, string message)
    {
        var result = Load("{}", profiles);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == "profiles.t.transparent" && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void ResourcesAndPrompts_AreNamedByPrefix_AndLeadBack_TransparentRenamesNothing()
    {
        var model = Load("{}", "{ raw: { compact_tools_enabled: false }, snake: { compact_tools_enabled: false, broker_tool_name_style: snake }, t: { transparent: true, upstreams: [b] } }").Model!;
        var (raw, snake, transparent) = (model.Profiles["raw"], model.Profiles["snake"], model.Profiles["t"]);
        var upstreams = model.Upstreams.ToList();
        var b = upstreams.Single(u => u.Name == "b");

        Assert.Equal("mcp-broker://bee/file:///x/{id}", ResourceNames.Expose(raw, b, "file:///x/{id}"));
        Assert.Equal((b, "file:///x/7"), ResourceNames.Resolve(raw, upstreams, "mcp-broker://bee/file:///x/7"));
        Assert.Null(ResourceNames.Resolve(raw, upstreams, "file:///x/7"));
        Assert.Null(ResourceNames.Resolve(raw, upstreams, "mcp-broker://nobody/file:///x/7"));
        Assert.Null(ResourceNames.Resolve(raw, upstreams, "mcp-broker://bee"));
        Assert.Equal("file:///x/7", ResourceNames.Expose(transparent, b, "file:///x/7"));
        Assert.Equal((b, "file:///x/7"), ResourceNames.Resolve(transparent, [b], "file:///x/7"));

        Assert.Equal("bee.greet", ResourceNames.ExposePrompt(raw, b, "greet"));
        Assert.Equal("bee__greet", ResourceNames.ExposePrompt(snake, b, "greet"));
        Assert.Equal((b, "greet.v2"), ResourceNames.ResolvePrompt(raw, upstreams, "bee.greet.v2"));
        Assert.Equal((b, "greet"), ResourceNames.ResolvePrompt(snake, upstreams, "bee__greet"));
        Assert.Null(ResourceNames.ResolvePrompt(raw, upstreams, "greet"));
        Assert.Equal("greet", ResourceNames.ExposePrompt(transparent, b, "greet"));
    }

    [Theory]
    [InlineData("read a resource document", "read_resource")]
    [InlineData("list the resources", "list_resources")]
    [InlineData("get a prompt template", "get_prompt")]
    [InlineData("which prompts are there, list them", "list_prompts")]
    public void UnlistedBrokerTools_AreFoundByTheWordsThatAskForThem(string query, string best)
    {
        Assert.Equal(best, FacadeTools.UnlistedMatching(query).First());
    }

    [Theory]
    [InlineData("read a file")]
    [InlineData("create a github issue")]
    public void UnlistedBrokerTools_StayOutOfOtherSearches(string query)
    {
        Assert.Empty(FacadeTools.UnlistedMatching(query));
    }
    [Fact]
    public async Task OneWritePerMessage_JoinsEachMessageWithItsNewline_AndPassesLongOnesThrough()
    {
        var inner = new RecordingStream();
        await using var stream = new McpBroker.Transports.OneWritePerMessage(inner);

        await stream.WriteAsync("{\"id\":1}"u8.ToArray());
        Assert.Empty(inner.Writes);
        await stream.WriteAsync("\n"u8.ToArray());
        await stream.WriteAsync("{\"id\":2}"u8.ToArray());
        await stream.FlushAsync();
        var big = new byte[100_000];
        big.AsSpan().Fill((byte)'x');
        await stream.WriteAsync(big);
        await stream.WriteAsync("\n"u8.ToArray());

        Assert.Equal(["{\"id\":1}\n", "{\"id\":2}", new string('x', 100_000), "\n"], inner.Writes);
    }

    private sealed class RecordingStream : MemoryStream
    {
        public List<string> Writes { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(System.Text.Encoding.UTF8.GetString(buffer.Span));
            return ValueTask.CompletedTask;
        }
    }
}
