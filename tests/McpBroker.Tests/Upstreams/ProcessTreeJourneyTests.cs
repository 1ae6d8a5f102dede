using McpBroker.Tests.Support;
using ModelContextProtocol.Client;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// An upstream that double-forks and calls setsid leaves a process outside its process group and session (issue 27,
/// item 9): it must still be stopped with its upstream — at daemon stop, at upstream stop, and by the reaper after a
/// kill -9 of the daemon. Each test kills whatever escaped process is left, whatever it asserted.
/// </summary>
public sealed class ProcessTreeJourneyTests : IDisposable
{
    private readonly string _pids = Directory.CreateTempSubdirectory("mb-escape-").FullName;

    public void Dispose()
    {
        foreach (var file in Directory.EnumerateFiles(_pids))
        {
            if (int.TryParse(File.ReadAllText(file).Trim(), out var pid) && Processes.Get(pid) is { CommandLine: "sleep 3600" })
            {
                Processes.Kill(pid, 9);
            }
        }

        Directory.Delete(_pids, recursive: true);
    }

    private Func<string, string> Config(string upstreams) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 30s }
        profiles:
          default: { compact_tools_enabled: false }
        upstreams:
        {{upstreams.Replace("TEST_UPSTREAM", Repo.TestUpstream, StringComparison.Ordinal).Replace("PIDS", _pids, StringComparison.Ordinal)}}
        """;

    /// <summary>Starts the upstream and returns the pid of the process it let escape, checked to be outside its group and session.</summary>
    private async Task<int> EscapedAsync(McpClient client, string upstream)
    {
        var upstreamPid = int.Parse(await BrokerEnvironment.CallTextAsync(client, $"{upstream}.pid", []));
        var file = Path.Combine(_pids, upstream);
        await Wait.UntilAsync(() => File.Exists(file), $"{upstream}'s escaped process to write its pid");
        var pid = int.Parse(File.ReadAllText(file).Trim());
        var escaped = Processes.Get(pid);
        Assert.NotNull(escaped);
        Assert.NotEqual(upstreamPid, escaped.GroupId);
        Assert.Equal(pid, escaped.GroupId); // it leads a group (and session) of its own
        return pid;
    }

    [LinuxFact]
    public async Task DaemonStop_StopsTheDescendantThatLeftTheGroup()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, args: [--escape, PIDS/t] }"));
        var client = await env.ConnectAsync();
        var marked = await EscapedAsync(client, "t");

        await env.StopDaemonAndAssertNothingLeftAsync();

        Assert.False(Processes.Alive(marked), "the escaped descendant (marker inherited) outlived daemon stop");
    }

    /// <summary>
    /// The limit, kept visible: a descendant that clears its environment and leaves the group and session, once its parent
    /// is gone, carries nothing that ties it to the broker (the daemon is no subreaper: docs/reliability.md).
    /// </summary>
    [LinuxFact]
    public async Task DaemonStop_ADescendantThatLeftTheGroupAndClearedItsEnvironment_IsNotFound()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  c: { command: TEST_UPSTREAM, args: [--escape, PIDS/c, --escape-clean-env] }"));
        var client = await env.ConnectAsync();
        var clean = await EscapedAsync(client, "c");

        await env.StopDaemonAndAssertNothingLeftAsync();

        Assert.True(Processes.Alive(clean), "found after all: update docs/reliability.md, 'What remains impossible'");
    }

    [LinuxFact]
    public async Task UpstreamRestart_StopsTheDescendantThatLeftItsGroup()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, args: [--escape, PIDS/t] }"));
        var client = await env.ConnectAsync();
        var escaped = await EscapedAsync(client, "t");

        var restart = await env.RunCliAsync("upstream", "restart", "t", "--config", env.ConfigPath);

        Assert.Equal(0, restart.ExitCode);
        Assert.False(Processes.Alive(escaped), "the escaped descendant outlived its upstream's stop");
    }

    [LinuxFact]
    public async Task DaemonKilled_TheReaperStopsTheDescendantThatLeftItsGroup()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config("  t: { command: TEST_UPSTREAM, args: [--escape, PIDS/t, --linger] }"));
        var client = await env.ConnectAsync();
        var upstream = int.Parse(await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
        var escaped = await EscapedAsync(client, "t");
        var daemon = env.DaemonPid!.Value;

        Assert.Equal(0, Processes.Kill(daemon, 9));
        await Wait.UntilAsync(() => !Processes.Alive(daemon), "the killed daemon to die");
        Assert.True(Processes.Alive(escaped));

        var reap = await env.RunCliAsync("daemon", "reap", "--config", env.ConfigPath);

        Assert.Equal(0, reap.ExitCode);
        Assert.Contains($"t: pid {upstream}", reap.Stdout);
        Assert.Contains("1 process(es) that had left its process group stopped too", reap.Stdout);
        Assert.False(Processes.Alive(upstream));
        Assert.False(Processes.Alive(escaped), "the escaped descendant outlived the reaper");
    }
}
