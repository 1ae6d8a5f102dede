using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Journey;

/// <summary>What the people who run the broker use to see what it does: status.</summary>
public sealed class OperatorTests
{
    [Fact]
    public async Task Status_ShowsTheDaemonItsSessionsAndUpstreams_AndSaysWhenNoneRuns()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
              mine: { command: "{{Repo.TestUpstream}}", mode: per_session }
              off: { command: "{{Repo.TestUpstream}}", mode: disabled }
            """);

        var none = await env.RunCliAsync("status", "--config", env.ConfigPath);
        Assert.Equal(3, none.ExitCode);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(none.Stdout).RootElement.GetProperty("daemon").ValueKind);

        var client = await env.ConnectAsync("raw");
        var pid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
        var minePid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "mine.pid", []));

        var run = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, run.ExitCode);
        var status = JsonDocument.Parse(run.Stdout).RootElement;
        var daemon = status.GetProperty("daemon");
        Assert.Equal(env.DaemonPid, daemon.GetProperty("pid").GetInt32());
        Assert.Equal(env.ConfigPath, daemon.GetProperty("config").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+", daemon.GetProperty("version").GetString());
        Assert.True(daemon.GetProperty("uptime_seconds").GetInt64() >= 0);

        var session = Assert.Single(status.GetProperty("sessions").EnumerateArray());
        Assert.Equal("xunit", session.GetProperty("client").GetString());
        Assert.Equal("journey-test 1", session.GetProperty("client_info").GetString());
        Assert.Equal("raw", session.GetProperty("profile").GetString());

        var upstreams = status.GetProperty("upstreams").EnumerateArray().ToDictionary(u => u.GetProperty("name").GetString()!);
        var t = upstreams["t"];
        Assert.Equal("running", t.GetProperty("state").GetString());
        Assert.Equal(pid, t.GetProperty("pids")[0].GetInt32());
        Assert.Equal("shared", t.GetProperty("mode").GetString());
        Assert.Equal(1, t.GetProperty("sessions").GetInt32());
        Assert.Equal(11, t.GetProperty("tools").GetInt32());
        Assert.Equal("none", t.GetProperty("auth").GetProperty("state").GetString());
        Assert.True(t.GetProperty("idle_seconds").GetInt64() >= 0);
        Assert.Equal(0, t.GetProperty("restarts").GetInt32());
        Assert.Equal("per_session", upstreams["mine"].GetProperty("mode").GetString());
        Assert.Equal(minePid, upstreams["mine"].GetProperty("pids")[0].GetInt32());
        Assert.Equal("disabled", upstreams["off"].GetProperty("state").GetString());

        // The same as tables (what a terminal gets).
        var table = await env.RunCliAsync("status", "--table", "--config", env.ConfigPath);
        Assert.Equal(0, table.ExitCode);
        Assert.Contains($"daemon pid {env.DaemonPid}", table.Stdout);
        Assert.Contains("last error", table.Stdout);
        Assert.Matches($@"t\s+│\s+running\s+│\s+{pid}\s+│\s+shared", table.Stdout);
        Assert.Contains("xunit (journey-test 1)", table.Stdout);
    }
}
