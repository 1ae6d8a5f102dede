using System.Text.Json;
using McpBroker.Config;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// The registry in-process over real upstream processes: which instance a session gets by mode, what state it
/// reports, and that ending a session, reloading a config or restarting stops exactly the instances it should.
/// </summary>
public sealed class UpstreamRegistryTests
{
    private static string Config() => $$"""
        profiles:
          raw: { compact_tools_enabled: false }
        upstreams:
          t: { command: "{{Repo.TestUpstream}}" }
          ps: { command: "{{Repo.TestUpstream}}", mode: per_session }
          pc: { command: "{{Repo.TestUpstream}}", mode: per_call }
        """;

    private static async Task<string> EchoAsync(InProcessBroker broker, string tool, string session)
    {
        var result = await broker.Facade.CallToolAsync(broker.Profile("raw"), session, new CallToolRequestParams
        {
            Name = tool,
            Arguments = new Dictionary<string, JsonElement> { ["message"] = JsonSerializer.SerializeToElement("hi") },
        }, CancellationToken.None);
        broker.RememberProcesses();
        Assert.NotEqual(true, result.IsError);
        return Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
    }

    private static int PidOf(InProcessBroker broker, string upstream, string? session) =>
        broker.Registry.Snapshot(upstream, session).Pid ?? throw new InvalidOperationException($"{upstream} has no process for {session}");

    [Fact]
    public async Task PerSession_EachSessionGetsItsOwnInstance_AndEndingTheSessionStopsOnlyThatOne()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config());

        await EchoAsync(broker, "ps.echo", "s1");
        await EchoAsync(broker, "ps.echo", "s2");
        var (first, second) = (PidOf(broker, "ps", "s1"), PidOf(broker, "ps", "s2"));

        Assert.NotEqual(first, second);
        Assert.Equal("running", broker.Registry.Snapshot("ps", "s1").State);
        Assert.Equal("stopped", broker.Registry.Snapshot("ps", "s3").State);
        Assert.Equal("stopped", broker.Registry.Snapshot("ps", null).State);
        Assert.Equal(2, broker.Registry.States("ps").Count);
        Assert.Equal(2, broker.Registry.Instances("ps"));
        Assert.Equal(0, broker.Registry.Queued("ps"));
        Assert.NotNull(broker.Registry.KnownCapabilities("ps", "s1")?.Tools);
        Assert.Null(broker.Registry.KnownCapabilities("ps", "s3"));
        Assert.Null(broker.Registry.KnownCapabilities("ps", null));

        broker.Registry.ReleaseSession("s1");

        await Wait.UntilAsync(() => !Processes.Alive(first), "the ended session's instance to stop");
        Assert.True(Processes.Alive(second));
        Assert.Equal("stopped", broker.Registry.Snapshot("ps", "s1").State);
        Assert.Equal(1, broker.Registry.Instances("ps"));
    }

    [Fact]
    public async Task Shared_OneInstanceServesEverySession_AndOutlivesThem()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config());

        await EchoAsync(broker, "t.echo", "s1");
        await EchoAsync(broker, "t.echo", "s2");
        var pid = PidOf(broker, "t", "s1");
        broker.Registry.ReleaseSession("s1");
        broker.Registry.ReleaseSession("s2");

        Assert.Equal(pid, PidOf(broker, "t", null));
        Assert.Single(broker.Registry.States("t"));
        Assert.NotNull(broker.Registry.KnownCapabilities("t", null));
        Assert.True(Processes.Alive(pid));
    }

    [Fact]
    public async Task PerCall_EachCallStartsAndStopsItsOwnProcess()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config());

        Assert.Equal("echo: hi", await EchoAsync(broker, "pc.echo", "s1"));

        Assert.Equal("stopped", broker.Registry.Snapshot("pc", "s1").State);
        Assert.Empty(broker.Registry.States("pc"));
        Assert.Null(broker.Registry.KnownCapabilities("pc", "s1"));
        await Wait.UntilAsync(() => broker.Records.Read().All(r => r.Upstream != "pc"), "the per-call process to stop and lose its record");
    }

    [Fact]
    public async Task UnknownUpstream_HasNoInstanceAndCannotBeRestarted()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config());

        Assert.Null(broker.Registry.Acquire("nope", "s1"));
        Assert.Equal("stopped", broker.Registry.Snapshot("nope", "s1").State);
        Assert.Empty(broker.Registry.States("nope"));
        Assert.Equal(0, broker.Registry.Queued("nope"));
        Assert.Null(broker.Registry.KnownCapabilities("nope", "s1"));
        Assert.False(await broker.Registry.RestartAsync("nope"));
    }

    [Fact]
    public async Task Restart_StopsEveryInstanceOfTheUpstream_AndTheNextCallStartsANewOne()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config());
        await EchoAsync(broker, "ps.echo", "s1");
        var before = PidOf(broker, "ps", "s1");

        Assert.True(await broker.Registry.RestartAsync("ps"));

        await Wait.UntilAsync(() => !Processes.Alive(before), "the restarted instance's old process to stop");
        await EchoAsync(broker, "ps.echo", "s1");
        Assert.NotEqual(before, PidOf(broker, "ps", "s1"));
    }

    [Fact]
    public async Task Apply_StopsRemovedAndChangedUpstreams_AndLeavesUnchangedOnesRunning()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config());
        await EchoAsync(broker, "t.echo", "s1");
        await EchoAsync(broker, "ps.echo", "s1");
        var (shared, perSession) = (PidOf(broker, "t", "s1"), PidOf(broker, "ps", "s1"));
        var next = ConfigLoader.Load($$"""
            schema_version: 1
            runtime: { root: "{{broker.Root}}" }
            profiles:
              raw: { compact_tools_enabled: false }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}", args: ["--stderr", "changed"] }
              pc: { command: "{{Repo.TestUpstream}}", mode: per_call }
              added: { command: "{{Repo.TestUpstream}}" }
            """, Path.Combine(broker.Root, "broker.yaml")).Model!;

        var change = await broker.Registry.ApplyAsync(next);

        Assert.Equal(["t"], change.Changed);
        Assert.Equal(["added"], change.Added);
        Assert.Equal(["ps"], change.Removed);
        Assert.False(Processes.Alive(shared));
        Assert.False(Processes.Alive(perSession));
        Assert.Null(broker.Registry.Acquire("ps", "s1"));
        Assert.NotNull(broker.Registry.FindModel("added"));
        Assert.Equal("stopped", broker.Registry.Snapshot("t", null).State);
    }
}
