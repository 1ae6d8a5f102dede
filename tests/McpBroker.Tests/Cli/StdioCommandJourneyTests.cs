using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Cli;

/// <summary>
/// <c>mcp-broker stdio</c>, the one-entry mode for MCPB bundles and containers: the daemon in-process when none runs
/// (stopped with everything it started when the client goes), the shim when one does (left running).
/// </summary>
public sealed class StdioCommandJourneyTests
{
    private static Task<McpClient> StdioAsync(BrokerEnvironment env, params string[] args) =>
        McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = Repo.Cli,
            Arguments = ["stdio", .. args],
            EnvironmentVariables = env.ProcessEnvironment,
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "stdio-test", Version = "1" } });

    private static async Task<(int Exit, JsonElement Status)> StatusAsync(BrokerEnvironment env, string configPath)
    {
        var run = await env.RunCliAsync("status", "--json", "--config", configPath);
        return (run.ExitCode, JsonDocument.Parse(run.Stdout).RootElement.Clone());
    }

    [Fact]
    public async Task WithNoDaemon_ItRunsTheDaemonInProcess_AndStopsItAndItsUpstreamsWhenTheClientGoes()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        int upstreamPid, daemonPid;
        await using (var client = await StdioAsync(env, "--config", env.ConfigPath, "--profile", "raw"))
        {
            upstreamPid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
            var (exit, status) = await StatusAsync(env, env.ConfigPath);
            Assert.Equal(0, exit);
            daemonPid = status.GetProperty("daemon").GetProperty("pid").GetInt32();
            Assert.Contains(" stdio ", Processes.Get(daemonPid)!.CommandLine + " ");
            var session = Assert.Single(status.GetProperty("sessions").EnumerateArray());
            Assert.Equal("stdio-test", session.GetProperty("client").GetString());
            Assert.Equal("stdio", session.GetProperty("wired_as").GetString());
        }

        await Wait.UntilAsync(() => Processes.Get(daemonPid) is null && Processes.Get(upstreamPid) is null, "the stdio process and its upstream to exit");
        Assert.Equal(3, (await StatusAsync(env, env.ConfigPath)).Exit);
        Assert.Empty(Processes.Matching(env.Root));
    }

    [Fact]
    public async Task WithADaemonRunning_ItIsTheShim_AndLeavesTheDaemonRunning()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var first = await env.ConnectAsync("raw");
        var upstreamPid = await BrokerEnvironment.CallTextAsync(first, "t.pid", []);
        await using (var client = await StdioAsync(env, "--config", env.ConfigPath, "--profile", "raw", "--client", "bundle"))
        {
            Assert.Equal(upstreamPid, await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
            var (_, status) = await StatusAsync(env, env.ConfigPath);
            Assert.Equal(env.DaemonPid, status.GetProperty("daemon").GetProperty("pid").GetInt32());
            Assert.Contains(status.GetProperty("sessions").EnumerateArray(), s => s.GetProperty("wired_as").GetString() == "bundle" && s.GetProperty("client").GetString() == "stdio-test");
        }

        await Wait.UntilAsync(async () => (await StatusAsync(env, env.ConfigPath)).Status.GetProperty("sessions").GetArrayLength() == 1, "the stdio session to end");
        Assert.Equal(upstreamPid, await BrokerEnvironment.CallTextAsync(first, "t.pid", []));
    }

    [Fact]
    public async Task InitIfMissing_WritesTheStarterConfig_WithoutIt_AMissingConfigIsAClearError()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        env.ExtraEnvironment["HOME"] = Path.Combine(env.Root, "home");
        var fresh = Path.Combine(env.Root, "fresh", "broker.yaml");

        var missing = await env.RunCliAsync("stdio", "--config", fresh);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("mcp-broker config init", missing.Stderr);
        Assert.False(File.Exists(fresh));

        await using (var client = await StdioAsync(env, "--config", fresh, "--init-if-missing"))
        {
            var tools = (await client.ListToolsAsync()).Select(t => t.Name).ToList();
            Assert.Equal(["broker.search_tools", "broker.describe_tool", "broker.call_tool", "broker.status"], tools);
        }

        Assert.Contains("schema_version: 1", await File.ReadAllTextAsync(fresh));
        await Wait.UntilAsync(() => Processes.Matching(env.Root).Count == 0, "the stdio process to exit");
    }
}
