using McpBroker.Tests.Support;

namespace McpBroker.Tests.Daemon;

/// <summary>
/// What the daemon keeps on disk is its owner's alone, a root it cannot create is one line of explanation, and a
/// per_call instance's stop is logged as what it is (issue 27, item 8).
/// </summary>
public sealed class RuntimeRootJourneyTests
{
    [LinuxFact]
    public async Task Daemon_EveryFileAndFolderItKeeps_IsOwnerOnly()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root,
            "  s: { command: \"" + Repo.TestUpstream + "\", args: [--stderr, a line for its log] }"));
        var client = await env.ConnectAsync("raw");
        Assert.Equal("echo: x", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "x" }));
        Assert.Equal("echo: y", await BrokerEnvironment.CallTextAsync(client, "s.echo", new() { ["message"] = "y" }));
        var expected = new[]
        {
            "run/daemon.pid", "run/daemon.lock", "run/upstreams", "cache/tools/t.json", "cache/protocols", "xdg-cache/mcp-broker/endpoints",
            "logs/daemon.log", "logs/upstreams/s.log", "state/upstreams/t",
        };
        await Wait.UntilAsync(() => expected.All(p => Path.Exists(Path.Combine(env.Root, p))), "the daemon to write " + string.Join(", ", expected));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(env.Root, "run", "upstreams")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(env.Root, "xdg-cache", "mcp-broker", "endpoints")));

        var open = Directory.EnumerateFileSystemEntries(env.Root, "*", SearchOption.AllDirectories)
            .Where(p => p != env.ConfigPath) // the user's own file
            .Select(p => (Path: Path.GetRelativePath(env.Root, p), Mode: File.GetUnixFileMode(p)))
            .Where(e => (e.Mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
            .ToList();

        Assert.True(open.Count == 0, "readable by others: " + string.Join(", ", open.Select(e => $"{e.Path} ({Convert.ToString((int)e.Mode, 8)})")));
    }

    [LinuxFact]
    public async Task ARootThatCannotBeCreated_DaemonAndShim_SayWhyInOneLine()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $"schema_version: 1\nruntime: {{ root: \"{root}/blocker/mb\" }}\nupstreams: {{}}\n");
        await File.WriteAllTextAsync(Path.Combine(env.Root, "blocker"), "a file where the root's parent should be");

        var daemon = await env.RunCliAsync("daemon", "--config", env.ConfigPath);
        var shim = await env.RunAsync(Repo.Shim, ["--profile", "default", "--config", env.ConfigPath], """{"jsonrpc":"2.0","id":1,"method":"ping"}""" + "\n");

        Assert.Equal(1, daemon.ExitCode);
        Assert.StartsWith($"mcp-broker: cannot create the runtime folder {env.Root}/blocker/mb: ", daemon.Stderr);
        Assert.Contains("set runtime.root to a folder this user can create and write", daemon.Stderr);
        Assert.Single(daemon.Stderr.Trim().Split('\n'));
        Assert.NotEqual(0, shim.ExitCode);
        Assert.Contains("cannot create the runtime folder", shim.Stderr);
        Assert.DoesNotContain("   at ", shim.Stderr);
        Assert.DoesNotContain("Unhandled exception", shim.Stderr);
    }

    [Fact]
    public async Task PerCall_TheInstanceStopAfterItsCall_IsNotLoggedAsDaemonStopping()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root, "  p: { command: \"" + Repo.TestUpstream + "\", mode: per_call }"));
        var client = await env.ConnectAsync("raw");
        var pid = await BrokerEnvironment.CallTextAsync(client, "p.pid", []);
        var log = Path.Combine(env.Root, "logs", "daemon.log");

        await Wait.UntilAsync(() => File.Exists(log) && File.ReadAllText(log).Contains($"Stopping upstream p (pid {pid})", StringComparison.Ordinal), "the per-call instance's stop to be logged");

        var line = File.ReadAllLines(log).Single(l => l.Contains($"Stopping upstream p (pid {pid})", StringComparison.Ordinal));
        Assert.Contains("its call ended (per_call)", line);
        Assert.DoesNotContain("daemon stopping", line);
    }
}
