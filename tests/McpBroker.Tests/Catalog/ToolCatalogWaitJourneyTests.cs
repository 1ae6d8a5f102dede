using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Catalog;

/// <summary>
/// Issue 26 item 6: an upstream that is starting, backing off or failing never delays a session's start, list,
/// search or a call to another upstream. The real daemon and shims, server-everything, and two real failing upstreams.
/// Asserted on what happened (how often and when the failing upstreams were started, the order of events), not on
/// wall time.
/// </summary>
public sealed class ToolCatalogWaitJourneyTests
{
    private const int CallsPerSession = 300;

    [Fact]
    public async Task HealthyCalls_BesideAnUpstreamThatNeverAnswersInitialize_AndOneThatCannotStart_NeverWaitForEither()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            broker: { idle_timeout: 10m, start_timeout: 60s }
            profiles:
              default: { compact_tools_enabled: true }
              raw: { compact_tools_enabled: false, max_tools: 500 }
            upstreams:
              everything: { command: "{{Repo.NodeBin("mcp-server-everything")}}" }
              mute: { command: "{{root}}/mute.sh", timeouts: { start: 10m } }
              broken:
                command: "{{Repo.TestUpstream}}"
                args: ["--exit-at-start", "3"]
                restart: { max_attempts: 50, backoff: 10m, max_backoff: 10m }
            """);

        // mute: a real process that answers nothing, not even initialize, until the file go appears (its start timeout
        // is 10 minutes, far beyond this test); each start leaves a started-PID file.
        var markers = Directory.CreateDirectory(Path.Combine(env.Root, "markers")).FullName;
        var mute = Path.Combine(env.Root, "mute.sh");
        await File.WriteAllTextAsync(mute, $"""
            #!/bin/sh
            touch "{markers}/started-$$"
            while [ ! -e "{markers}/go" ]; do sleep 0.05; done
            exec "{Repo.TestUpstream}"
            """);
        File.SetUnixFileMode(mute, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        int Starts() => Directory.GetFiles(markers, "started-*").Length;

        // Before the change every request here waited for mute's start (10 minutes): this bounds the test instead.
        using var cts = new CancellationTokenSource(Wait.Timeout * 2);
        var raw = await env.ConnectAsync("raw", ct: cts.Token);
        var listChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var onChanged = raw.RegisterNotificationHandler(NotificationMethods.ToolListChangedNotification,
            (_, _) => { listChanged.TrySetResult(); return ValueTask.CompletedTask; });

        // A cold daemon's first list: everything's first listing is waited for, mute's is not (past a bound) and broken failed.
        var first = await raw.ListToolsAsync(new ListToolsRequestParams(), cts.Token);
        Assert.Contains(first.Tools, t => t.Name == "everything.echo");
        Assert.DoesNotContain(first.Tools, t => t.Name.StartsWith("mute.", StringComparison.Ordinal));
        var unavailable = Unavailable(first.Meta?["mcp-broker/unavailable"]?.ToJsonString());
        Assert.Equal(["broken", "mute"], unavailable.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("is starting", unavailable["mute"], StringComparison.Ordinal);
        Assert.Equal(1, Starts());

        // Two new sessions (a session start each), a search each, then 300 calls each to server-everything.
        var sessions = await Task.WhenAll(Enumerable.Range(0, 2).Select(async s =>
        {
            var client = await env.ConnectAsync("default", ct: cts.Token);
            var search = await client.CallToolAsync("broker.search_tools", new Dictionary<string, object?> { ["query"] = "echo" }, cancellationToken: cts.Token);
            var echoes = new List<string>();
            for (var i = 0; i < CallsPerSession; i++)
            {
                var result = await client.CallToolAsync("broker.call_tool", new Dictionary<string, object?>
                {
                    ["name"] = "everything.echo",
                    ["arguments"] = new Dictionary<string, object?> { ["message"] = $"{s}-{i}" },
                }, cancellationToken: cts.Token);
                Assert.NotEqual(true, result.IsError);
                echoes.Add(string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
            }

            return (Search: Text(search), Echoes: echoes);
        }));

        foreach (var (search, echoes) in sessions)
        {
            var found = JsonDocument.Parse(search).RootElement;
            Assert.Contains(found.GetProperty("matches").EnumerateArray(), m => m.GetProperty("name").GetString() == "everything.echo");
            Assert.Equal(["broken", "mute"], Unavailable(found.GetProperty("unavailable").GetRawText()).Keys.Order(StringComparer.Ordinal));
            Assert.Equal(CallsPerSession, echoes.Count);
        }

        Assert.All(Enumerable.Range(0, CallsPerSession), i => Assert.Contains($"1-{i}", sessions[1].Echoes[i], StringComparison.Ordinal));

        // mute's one start is still in flight: both session starts, searches and all 600 calls were answered during it,
        // so none of them waited for it. broken failed once, at the first list: no session start, search or call
        // restarted it (its own policy would have restarted it at once after one failure; the catalog waits its backoff).
        var status = await BrokerEnvironment.UpstreamStatusAsync(raw);
        var muteState = status.Single(u => u.GetProperty("name").GetString() == "mute");
        var brokenState = status.Single(u => u.GetProperty("name").GetString() == "broken");
        Assert.Equal("starting", muteState.GetProperty("state").GetString());
        Assert.Equal(1, Starts());
        Assert.Equal(1, brokenState.GetProperty("failures").GetInt32());

        // When mute finally answers, the listing in flight since the first list completes in the background, and the
        // raw session is told its list changed.
        await File.WriteAllTextAsync(Path.Combine(markers, "go"), "", cts.Token);
        await listChanged.Task.WaitAsync(cts.Token);
        var again = await raw.ListToolsAsync(new ListToolsRequestParams(), cts.Token);
        Assert.Contains(again.Tools, t => t.Name == "mute.echo");
        Assert.Equal(["broken"], Unavailable(again.Meta?["mcp-broker/unavailable"]?.ToJsonString()).Keys);
        Assert.Equal(1, Starts());
    }

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    private static Dictionary<string, string> Unavailable(string? json) => json is null
        ? []
        : JsonDocument.Parse(json).RootElement.EnumerateArray().ToDictionary(u => u.GetProperty("upstream").GetString()!, u => u.GetProperty("error").GetString()!);
}
