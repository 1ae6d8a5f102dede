using System.Diagnostics;
using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Daemon;

/// <summary>Start-up, protocol probes, idle stop and signals, with real processes.</summary>
public sealed class DaemonLifecycleJourneyTests
{
    [Theory]
    [InlineData(null, "2026-07-28", false)]     // the SDK's default: server/discover instead of initialize; that revision has no ping
    [InlineData("2025-11-25", "2025-11-25", true)]
    [InlineData("2025-06-18", "2025-06-18", true)]
    public async Task Session_AnyRevisionTheSdkSpeaks_NegotiatesAndServesTools(string? requested, string negotiated, bool revisionHasPing)
    {
        await using var env = await BrokerEnvironment.CreateAsync();

        // A warm daemon: the SDK gives its server/discover probe a deadline, and a loaded machine starting the daemon
        // on first contact can miss it (the SDK then falls back to initialize, a different revision).
        Assert.Equal(0, (await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath)).ExitCode);
        env.RememberProcesses();
        var client = await env.ConnectAsync(protocolVersion: requested);

        Assert.Equal(negotiated, client.NegotiatedProtocolVersion);
        Assert.Equal(4, (await client.ListToolsAsync()).Count);
        if (revisionHasPing)
        {
            await client.PingAsync();
        }
    }

    [Fact]
    public async Task IdleTimeout_StopsAnUnusedUpstream_AndTheNextCallStartsItAgain()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root).Replace("idle_timeout: 10m", "idle_timeout: 1s", StringComparison.Ordinal));
        var client = await env.ConnectAsync();
        var echo = new Dictionary<string, object?> { ["name"] = "everything.echo", ["arguments"] = new Dictionary<string, object?> { ["message"] = "a" } };
        await BrokerEnvironment.CallTextAsync(client, "broker.call_tool", echo);
        var firstPid = (await Everything(client)).GetProperty("pid").GetInt32();

        await Wait.UntilAsync(() => !Processes.Alive(firstPid), "the idle upstream to stop");
        Assert.Equal("stopped", (await Everything(client)).GetProperty("state").GetString());

        Assert.Equal("Echo: a", await BrokerEnvironment.CallTextAsync(client, "broker.call_tool", echo));
        var again = await Everything(client);
        Assert.Equal("running", again.GetProperty("state").GetString());
        Assert.NotEqual(firstPid, again.GetProperty("pid").GetInt32());
    }

    [Fact]
    public async Task Sigterm_ToAForegroundDaemon_StopsEveryUpstreamAndRemovesTheSocket()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var start = new ProcessStartInfo(Repo.Cli) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "daemon", "--config", env.ConfigPath })
        {
            start.ArgumentList.Add(arg);
        }

        using var daemon = Process.Start(start)!;
        var stderr = daemon.StandardError.ReadToEndAsync();
        await Wait.UntilAsync(() => File.Exists(env.SocketPath), "the foreground daemon's socket");
        var client = await env.ConnectAsync();
        await BrokerEnvironment.CallTextAsync(client, "broker.search_tools", new() { ["query"] = "echo" });
        var upstreams = Processes.Descendants(daemon.Id);
        Assert.NotEmpty(upstreams);

        Assert.Equal(0, Processes.Kill(daemon.Id, 15));
        await daemon.WaitForExitAsync().WaitAsync(Wait.Timeout);

        Assert.Equal(0, daemon.ExitCode);
        Assert.DoesNotContain(upstreams, p => Processes.Alive(p.Pid));
        Assert.False(File.Exists(env.SocketPath));
        Assert.Contains("Stopping upstream", await stderr);
    }

    [Fact]
    public async Task DaemonStart_WithAStaleSocketFile_RemovesItAndListens()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        Directory.CreateDirectory(Path.GetDirectoryName(env.SocketPath)!);
        await File.WriteAllTextAsync(env.SocketPath, "left over by a crashed daemon");

        var client = await env.ConnectAsync();

        Assert.Equal(4, (await client.ListToolsAsync()).Count);
    }

    private static async Task<JsonElement> Everything(ModelContextProtocol.Client.McpClient client) =>
        (await BrokerEnvironment.CallJsonAsync(client, "broker.status", [])).GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "everything");
}
