using System.Diagnostics;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Packaging;

/// <summary>
/// What <c>scripts/publish</c> installs, run as users run it: the ReadyToRun CLI with the NativeAOT shim beside it.
/// The in-process shim of <c>mcp-broker stdio</c> and <c>mcp-broker shim</c> once crashed there (the script deleted the
/// assembly they load), while every other test ran the build output.
/// </summary>
public sealed class PublishedLayoutJourneyTests(PublishedLayoutJourneyTests.Published published) : IClassFixture<PublishedLayoutJourneyTests.Published>
{
    /// <summary>One publish for the class (it builds the shim NativeAOT: a minute or more).</summary>
    public sealed class Published : IAsyncLifetime
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("mb-published-").FullName;

        public string Cli => Path.Combine(Dir, "mcp-broker");

        public string Shim => Path.Combine(Dir, "mcp-broker-client");

        public async Task InitializeAsync()
        {
            var start = new ProcessStartInfo("bash", [Path.Combine(Repo.Root, "scripts", "publish"), Dir])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var publish = Process.Start(start)!;
            var output = publish.StandardOutput.ReadToEndAsync();
            var errors = publish.StandardError.ReadToEndAsync();
            await publish.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
            Assert.True(publish.ExitCode == 0, $"scripts/publish exited {publish.ExitCode}: {await output}{await errors}");
        }

        public Task DisposeAsync()
        {
            Directory.Delete(Dir, recursive: true);
            return Task.CompletedTask;
        }
    }

    /// <summary>This test's environment, with the published CLI as the one a shim starts daemons with.</summary>
    private Dictionary<string, string?> Environment(BrokerEnvironment env) => new(env.ProcessEnvironment) { ["MCP_BROKER_CLI"] = published.Cli };

    private static async Task<McpClient> ConnectAsync(string command, IList<string> args, Dictionary<string, string?> environment) =>
        await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = command,
            Arguments = args,
            EnvironmentVariables = environment,
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "published-test", Version = "1" } });

    [Fact]
    public async Task Stdio_FromThePublishedLayout_ServesAClient_AndStopsWithIt()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        string upstreamPid;
        await using (var client = await ConnectAsync(published.Cli, ["stdio", "--config", env.ConfigPath, "--profile", "raw"], Environment(env)))
        {
            upstreamPid = await BrokerEnvironment.CallTextAsync(client, "t.pid", []);
            Assert.Equal("echo: published", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "published" }));
        }

        await Wait.UntilAsync(() => Processes.Get(int.Parse(upstreamPid)) is null, "the in-process daemon's upstream to stop with the client");
        Assert.Empty(Processes.Matching(env.Root));
    }

    [Fact]
    public async Task TheNativeShimAndTheCliShim_FromThePublishedLayout_ReachOneDaemonTheyStart()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        await using var native = await ConnectAsync(published.Shim, ["--profile", "raw", "--config", env.ConfigPath], Environment(env));
        env.RememberProcesses();
        await using var viaCli = await ConnectAsync(published.Cli, ["shim", "--profile", "raw", "--config", env.ConfigPath], Environment(env));

        var pid = await BrokerEnvironment.CallTextAsync(native, "t.pid", []);
        Assert.Equal(pid, await BrokerEnvironment.CallTextAsync(viaCli, "t.pid", []));
        Assert.Contains(published.Dir, Processes.Get(env.DaemonPid!.Value)!.CommandLine, StringComparison.Ordinal);
        env.RememberProcesses();
    }
}
