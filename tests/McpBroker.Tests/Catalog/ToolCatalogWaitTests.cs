using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Catalog;

/// <summary>
/// The catalog's waiting rule, in-process over real upstream processes: a call needs only its own upstream's tools;
/// list, search and describe wait (bounded) only for first listings of upstreams that never failed; an upstream that
/// failed is never waited on and is retried in the background no faster than its backoff.
/// </summary>
public sealed class ToolCatalogWaitTests
{
    private const string Session = "s1";

    /// <summary>
    /// A broker with the test upstream <c>t</c>, <c>mute</c> (a real process that answers nothing, not even
    /// initialize, until the file <c>go</c> appears in <paramref name="markers"/>; each start leaves a
    /// <c>started-PID</c> file there, and the methods it was asked go to the file <c>methods</c>) and <c>broken</c> (exits at once; after its second failure it waits 10 minutes).
    /// </summary>
    private static async Task<InProcessBroker> CreateAsync(string markers)
    {
        var mute = Path.Combine(markers, "mute.sh");
        await File.WriteAllTextAsync(mute, $"""
            #!/bin/sh
            touch "{markers}/started-$$"
            while [ ! -e "{markers}/go" ]; do sleep 0.05; done
            exec "{Repo.TestUpstream}" --record-methods "{markers}/methods"
            """);
        File.SetUnixFileMode(mute, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return await InProcessBroker.CreateAsync($$"""
            profiles:
              compact: { compact_tools_enabled: true }
              raw: { compact_tools_enabled: false, tools_page_size: 0 }
              without_mute: { compact_tools_enabled: true, upstreams: [t, broken] }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
              mute: { command: "{{mute}}", timeouts: { start: 10m } }
              broken:
                command: "{{Repo.TestUpstream}}"
                args: ["--exit-at-start", "3"]
                restart: { max_attempts: 50, backoff: 10m, max_backoff: 10m }
            """);
    }

    private static int Starts(string markers) => Directory.GetFiles(markers, "started-*").Length;

    private static Task<CallToolResult> CallAsync(InProcessBroker broker, string profile, string tool, string arguments) =>
        broker.Facade.CallToolAsync(broker.Profile(profile), Session, new CallToolRequestParams
        {
            Name = tool,
            Arguments = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(arguments),
        }, CancellationToken.None).AsTask().WaitAsync(Wait.Timeout);

    private static string Text(CallToolResult result) => Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;

    private static JsonObject Json(CallToolResult result)
    {
        Assert.NotEqual(true, result.IsError);
        return JsonNode.Parse(Text(result))!.AsObject();
    }

    private static Dictionary<string, string> Unavailable(JsonNode? list) =>
        (list?.AsArray() ?? []).ToDictionary(u => (string)u!["upstream"]!, u => (string)u!["error"]!);

    [Fact]
    public async Task CallTool_ToOneUpstream_NeitherListsNorStartsAnother()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);

        var result = await CallAsync(broker, "compact", "broker.call_tool", """{"name": "t.echo", "arguments": {"message": "hi"}}""");

        Assert.Equal("echo: hi", Text(result));
        var broken = broker.Registry.Snapshot("broken", Session);
        Assert.Equal(("stopped", 0), (broken.State, broken.ConsecutiveFailures));
        Assert.Equal(0, Starts(markers.Path));
        Assert.Equal(["t"], broker.Catalog.Current.Upstreams.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CallTool_WhileAnotherUpstreamNeverAnswersInitialize_IsAnsweredDuringThatStart()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);

        // A search starts every upstream's first listing; mute's start then hangs (its start timeout is 10 minutes).
        var search = CallAsync(broker, "compact", "broker.search_tools", """{"query": "echo"}""");
        await Wait.UntilAsync(() => Starts(markers.Path) == 1 && broker.Registry.Snapshot("mute", Session).State == "starting", "mute's start to begin");

        var calls = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            calls.Add(Text(await CallAsync(broker, "compact", "broker.call_tool", $$$"""{"name": "t.echo", "arguments": {"message": "{{{i}}}"}}""")));
        }

        // Every call was answered while mute's one start was still in flight: none waited for it.
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"echo: {i}"), calls);
        Assert.Equal("starting", broker.Registry.Snapshot("mute", Session).State);
        Assert.Equal(1, Starts(markers.Path));

        // The search itself waited only for the first listings, and no longer than the bound: mute is reported, not awaited.
        var found = Json(await search);
        Assert.Contains(found["matches"]!.AsArray(), m => (string)m!["name"]! == "t.echo");
        var unavailable = Unavailable(found["unavailable"]);
        Assert.Contains("is starting", unavailable["mute"], StringComparison.Ordinal);
        Assert.Contains("test upstream: exiting at start as asked", unavailable["broken"], StringComparison.Ordinal);
        Assert.Equal("starting", broker.Registry.Snapshot("mute", Session).State);
        File.WriteAllText(Path.Combine(markers.Path, "go"), "");
    }

    [Fact]
    public async Task Search_AfterAnUpstreamFailed_NeitherWaitsForNorRestartsIt_AndSaysWhy()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);

        var first = Unavailable(Json(await CallAsync(broker, "without_mute", "broker.search_tools", """{"query": "echo"}"""))["unavailable"]);
        Assert.Equal(1, broker.Registry.Snapshot("broken", Session).ConsecutiveFailures);

        // The upstream's own policy would restart it at once after one failure; the catalog retries no faster than
        // its backoff (10 minutes here), so none of these starts it again.
        for (var i = 0; i < 5; i++)
        {
            var again = Json(await CallAsync(broker, "without_mute", "broker.search_tools", """{"query": "echo"}"""));
            Assert.Contains(again["matches"]!.AsArray(), m => (string)m!["name"]! == "t.echo");
            Assert.Equal(first, Unavailable(again["unavailable"]));
            await CallAsync(broker, "without_mute", "broker.describe_tool", """{"name": "t.echo"}""");
            await CallAsync(broker, "without_mute", "broker.call_tool", """{"name": "t.echo", "arguments": {}}""");
        }

        var broken = broker.Registry.Snapshot("broken", Session);
        Assert.Equal((1, "stopped"), (broken.ConsecutiveFailures, broken.State));
        Assert.Contains("exiting at start as asked", first["broken"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetryFailedListingNow_AfterUpstreamRestart_TheNextSearchRetriesInTheBackground()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);
        await CallAsync(broker, "without_mute", "broker.search_tools", """{"query": "echo"}""");
        Assert.Equal(1, broker.Registry.Snapshot("broken", Session).ConsecutiveFailures);

        // What 'mcp-broker upstream restart broken' does: the circuit closes, and the catalog's retry falls due at once.
        await broker.Registry.RestartAsync("broken");
        broker.Catalog.RetryFailedListingNow("broken");
        Assert.Equal(0, broker.Registry.Snapshot("broken", Session).ConsecutiveFailures);
        var search = Json(await CallAsync(broker, "without_mute", "broker.search_tools", """{"query": "echo"}"""));

        // Still not waited on (it failed before): reported, and retried in the background, where it fails again.
        Assert.Contains("broken", Unavailable(search["unavailable"]).Keys);
        await Wait.UntilAsync(() => broker.Registry.Snapshot("broken", Session).ConsecutiveFailures == 1, "the background retry to start (and fail) it again");
    }

    [Fact]
    public async Task ListResources_BesideAFailedAndAHungUpstream_NeitherRestartsNorAwaitsTheirStarts()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);
        var search = CallAsync(broker, "compact", "broker.search_tools", """{"query": "echo"}""");
        await Wait.UntilAsync(() => Starts(markers.Path) == 1 && broker.Registry.Snapshot("mute", Session).State == "starting"
            && broker.Registry.Snapshot("broken", Session).ConsecutiveFailures == 1, "mute's first start to begin and broken's to fail");

        // What a raw session's resources/list and prompts/list merge (clients send them as they connect), here through
        // the compact profile's unlisted broker tools, which merge the same way.
        var resources = Json(await CallAsync(broker, "compact", "broker.list_resources", "{}"));
        var prompts = Json(await CallAsync(broker, "compact", "broker.list_prompts", "{}"));

        foreach (var listed in new[] { resources, prompts })
        {
            var unavailable = Unavailable(listed["unavailable"]);
            Assert.Contains("is starting", unavailable["mute"], StringComparison.Ordinal);
            Assert.Contains("exiting at start as asked", unavailable["broken"], StringComparison.Ordinal);
        }

        // Answered while mute's one start was still in flight, and without starting broken again (its policy would have).
        Assert.Equal(("starting", 1), (broker.Registry.Snapshot("mute", Session).State, Starts(markers.Path)));
        Assert.Equal(1, broker.Registry.Snapshot("broken", Session).ConsecutiveFailures);
        File.WriteAllText(Path.Combine(markers.Path, "go"), "");
        await search;
    }

    [Fact]
    public async Task DescribeAndCall_OfAFailedUpstreamsTool_SayItIsDown_NotThatTheToolIsUnknown()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);

        var call = ErrorOf(await CallAsync(broker, "without_mute", "broker.call_tool", """{"name": "broken.echo", "arguments": {}}"""));
        var describe = ErrorOf(await CallAsync(broker, "without_mute", "broker.describe_tool", """{"name": "broken.echo"}"""));

        Assert.Equal("upstream_unavailable", call.Code);
        Assert.Equal("upstream_unavailable", describe.Code);
        Assert.Contains("exiting at start as asked", describe.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListTools_ColdCatalog_WaitsForHealthyFirstListings_NotForAHungOne_WhichArrivesInTheBackgroundLater()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);
        var profile = broker.Profile("raw");

        var listed = await broker.Facade.ListToolsAsync(profile, Session, null, CancellationToken.None).AsTask().WaitAsync(Wait.Timeout);

        Assert.Contains(listed.Tools, t => t.Name == "t.echo");
        Assert.DoesNotContain(listed.Tools, t => t.Name.StartsWith("mute.", StringComparison.Ordinal));
        var unavailable = Unavailable(listed.Meta?["mcp-broker/unavailable"]);
        Assert.Equal(["broken", "mute"], unavailable.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("is starting", unavailable["mute"], StringComparison.Ordinal);
        Assert.Equal("starting", broker.Registry.Snapshot("mute", Session).State);

        // Once mute answers, the listing in flight completes in the background and the catalog says it changed.
        var arrived = new TaskCompletionSource<CatalogSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        broker.Catalog.Changed += snapshot =>
        {
            if (snapshot.Upstreams.ContainsKey("mute"))
            {
                arrived.TrySetResult(snapshot);
            }
        };
        var before = await broker.Facade.ListSignatureAsync(profile, Session, CancellationToken.None);
        File.WriteAllText(Path.Combine(markers.Path, "go"), "");
        await arrived.Task.WaitAsync(Wait.Timeout);

        var again = await broker.Facade.ListToolsAsync(profile, Session, null, CancellationToken.None);
        Assert.Contains(again.Tools, t => t.Name == "mute.echo");
        Assert.Equal(["broken"], Unavailable(again.Meta?["mcp-broker/unavailable"]).Keys);
        Assert.NotEqual(before, broker.Facade.CurrentSignature(profile));
        Assert.Equal(1, Starts(markers.Path));
    }

    [Fact]
    public async Task Listing_ManyRequestsDuringOneSlowStart_ListTheUpstreamOnce()
    {
        using var markers = new TempDir();
        await using var broker = await CreateAsync(markers.Path);

        // Searches and lists of several sessions, all while mute's first start is in flight.
        var requests = Enumerable.Range(0, 8).Select(i => i % 2 == 0
            ? (Task)CallAsync(broker, "compact", "broker.search_tools", """{"query": "echo"}""")
            : broker.Facade.ListToolsAsync(broker.Profile("raw"), $"s{i}", null, CancellationToken.None).AsTask()).ToList();
        await Wait.UntilAsync(() => Starts(markers.Path) == 1 && broker.Registry.Snapshot("mute", Session).State == "starting", "mute's start to begin");
        File.WriteAllText(Path.Combine(markers.Path, "go"), "");
        await Wait.UntilAsync(() => broker.Catalog.Current.Upstreams.ContainsKey("mute"), "mute's tools to arrive");
        await Task.WhenAll(requests).WaitAsync(Wait.Timeout);

        // One listing for all of them (and none more for the instance's start, which the listing in flight saw).
        var methods = File.ReadAllLines(Path.Combine(markers.Path, "methods"));
        Assert.Equal(1, methods.Count(m => m == "tools/list"));
        Assert.Equal(1, Starts(markers.Path));
    }

    private static (string Code, string Message) ErrorOf(CallToolResult result)
    {
        Assert.True(result.IsError);
        var error = JsonNode.Parse(Text(result))!["error"]!;
        return ((string)error["code"]!, (string)error["message"]!);
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("mbhol-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
