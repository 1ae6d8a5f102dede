using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Packaging;

/// <summary>
/// The release artifacts of this machine's platform, run as users and hosts run them: the self-contained single-file
/// binaries of <c>scripts/publish --release</c>, the MCP Bundle of <c>scripts/bundle</c> (unpacked by the official
/// bundle CLI and started the way a host reads its manifest) and the container image's entry point. No Docker engine
/// runs here, so the image itself is not built: its entry point runs from the same binaries it copies, with its
/// environment, as its user would on a first start.
/// </summary>
public sealed partial class ReleaseArtifactsJourneyTests(ReleaseArtifactsJourneyTests.Release release) : IClassFixture<ReleaseArtifactsJourneyTests.Release>
{
    /// <summary>One release build and bundle for the class (the shim is built NativeAOT: a minute or more).</summary>
    public sealed class Release : IAsyncLifetime
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("mb-release-").FullName;

        /// <summary>The folder of this platform's binaries (OUTDIR/RID).</summary>
        public string Binaries { get; private set; } = "";

        public string Bundle { get; private set; } = "";

        public async Task InitializeAsync()
        {
            var start = new ProcessStartInfo("bash", [Path.Combine(Repo.Root, "scripts", "bundle"), Dir])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var bundle = Process.Start(start)!;
            var output = bundle.StandardOutput.ReadToEndAsync();
            var errors = bundle.StandardError.ReadToEndAsync();
            await bundle.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
            Assert.True(bundle.ExitCode == 0, $"scripts/bundle exited {bundle.ExitCode}: {await output}{await errors}");
            Bundle = Assert.Single(Directory.GetFiles(Dir, "*.mcpb"));
            Binaries = Assert.Single(Directory.GetDirectories(Dir));
        }

        public Task DisposeAsync()
        {
            Directory.Delete(Dir, recursive: true);
            return Task.CompletedTask;
        }
    }

    private string Cli => Path.Combine(release.Binaries, "mcp-broker");

    private string Shim => Path.Combine(release.Binaries, "mcp-broker-client");

    [Fact]
    public void TheReleaseFolder_HoldsOnlyTheTwoSingleFileBinaries()
    {
        Assert.Equal(["mcp-broker", "mcp-broker-client"], Directory.GetFiles(release.Binaries).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task TheSingleFileCli_RunsTheDemo()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var demo = await env.RunAsync(Cli, ["demo"], stdin: null, TimeSpan.FromMinutes(5));
        Assert.True(demo.ExitCode == 0, demo.Stdout + demo.Stderr);
        Assert.Contains("demo complete", demo.Stdout);
    }

    [Fact]
    public async Task TheSingleFileDaemon_ServesTheNativeShimAndTheCliShim_AndStdioRunsWithoutIt()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var environment = new Dictionary<string, string?>(env.ProcessEnvironment) { ["MCP_BROKER_CLI"] = Cli };
        env.ExtraEnvironment["MCP_BROKER_CLI"] = Cli;

        var started = await env.RunAsync(Cli, ["daemon", "--detach", "--config", env.ConfigPath], stdin: null);
        Assert.True(started.ExitCode == 0, started.Stdout + started.Stderr);
        env.RememberProcesses();
        Assert.Contains(Cli, Processes.Get(env.DaemonPid!.Value)!.CommandLine, StringComparison.Ordinal);

        await using (var native = await ConnectAsync(Shim, ["--profile", "raw", "--config", env.ConfigPath], environment))
        await using (var viaCli = await ConnectAsync(Cli, ["shim", "--profile", "raw", "--config", env.ConfigPath], environment))
        {
            var pid = await BrokerEnvironment.CallTextAsync(native, "t.pid", []);
            Assert.Equal(pid, await BrokerEnvironment.CallTextAsync(viaCli, "t.pid", []));
            env.RememberProcesses();
        }

        await env.StopDaemonAndAssertNothingLeftAsync();

        // With no daemon running, 'stdio' is the whole broker in-process, for the length of the session.
        string upstreamPid;
        await using (var stdio = await ConnectAsync(Cli, ["stdio", "--config", env.ConfigPath, "--profile", "raw"], environment))
        {
            upstreamPid = await BrokerEnvironment.CallTextAsync(stdio, "t.pid", []);
        }

        await Wait.UntilAsync(() => Processes.Get(int.Parse(upstreamPid)) is null, "the in-process daemon's upstream to stop with the session");
        Assert.Empty(Processes.Matching(env.Root));
    }

    [Fact]
    public async Task TheBundle_UnpackedByTheBundleCli_StartsAsItsManifestSays_AndWritesAStarterConfigOnFirstRun()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var mcpb = Path.Combine(Repo.Root, "packaging", "mcpb", "node_modules", ".bin", "mcpb");
        var unpacked = Path.Combine(env.Root, "extension");
        var unpack = await env.RunAsync(mcpb, ["unpack", release.Bundle, unpacked], stdin: null, TimeSpan.FromMinutes(2));
        Assert.True(unpack.ExitCode == 0, unpack.Stdout + unpack.Stderr);

        var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(unpacked, "manifest.json"))).RootElement;
        Assert.Equal([OperatingSystem.IsLinux() ? "linux" : "darwin"],
            manifest.GetProperty("compatibility").GetProperty("platforms").EnumerateArray().Select(p => p.GetString()));

        // As a host does: ${__dirname} is the unpacked folder, each ${user_config.X} the field's default (a user who
        // changed nothing), ${HOME} the user's home.
        var home = Path.Combine(env.Root, "home");
        Directory.CreateDirectory(home);
        var defaults = manifest.GetProperty("user_config").EnumerateObject().ToDictionary(f => f.Name, f => f.Value.GetProperty("default").GetString()!);
        string Expand(string value) => Placeholder().Replace(value, m => m.Groups[1].Value switch
        {
            "__dirname" => unpacked,
            "HOME" => home,
            var name when name.StartsWith("user_config.", StringComparison.Ordinal) => Expand(defaults[name["user_config.".Length..]]),
            var name => throw new InvalidOperationException($"a host would not expand ${{{name}}}"),
        });
        var config = manifest.GetProperty("server").GetProperty("mcp_config");
        var command = Expand(config.GetProperty("command").GetString()!);
        var args = config.GetProperty("args").EnumerateArray().Select(a => Expand(a.GetString()!)).ToList();

        // The user's home is all the host gives it: no config, no broker variables.
        var environment = EmptyHome(env, home);
        await using (var client = await ConnectAsync(command, args, environment))
        {
            var tools = await client.ListToolsAsync();
            Assert.Equal(["broker.call_tool", "broker.describe_tool", "broker.search_tools", "broker.status"], tools.Select(t => t.Name).Order());
            var status = await BrokerEnvironment.CallJsonAsync(client, "broker.status", []);
            Assert.Equal("default", status.GetProperty("profile").GetString());
        }

        Assert.True(File.Exists(Path.Combine(home, ".config", "mcp-broker", "broker.yaml")), "the starter config at the bundle's default path");
        await Wait.UntilAsync(() => Processes.Matching(home).Count == 0, "nothing the bundle started to outlive its session");
    }

    [Fact]
    public async Task TheContainerEntryPoint_FromTheBinariesTheImageCopies_WritesAStarterConfigAndServes()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var dockerfile = await File.ReadAllLinesAsync(Path.Combine(Repo.Root, "packaging", "Dockerfile"));

        // COPY [--chmod=…] FILE… DEST: every file it copies is in the release folder the README builds it from.
        var copy = dockerfile.Single(l => l.StartsWith("COPY ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Skip(1).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
        Assert.All(copy[..^1], file => Assert.True(File.Exists(Path.Combine(release.Binaries, file)), $"the image copies {file}, which the release lacks"));

        // The image's user has an empty home, the image's ENV, and runs the ENTRYPOINT.
        var home = Path.Combine(env.Root, "home");
        Directory.CreateDirectory(home);
        var environment = EmptyHome(env, home);
        foreach (var line in dockerfile.Where(l => l.StartsWith("ENV ", StringComparison.Ordinal)))
        {
            var (name, value) = (line[4..].Split('=', 2)[0], line[4..].Split('=', 2)[1]);
            environment[name] = value.Replace("/home/broker", home, StringComparison.Ordinal);
        }

        var entry = JsonSerializer.Deserialize<string[]>(dockerfile.Single(l => l.StartsWith("ENTRYPOINT ", StringComparison.Ordinal))["ENTRYPOINT ".Length..])!;
        Assert.Equal("mcp-broker", entry[0]);
        await using (var client = await ConnectAsync(Path.Combine(release.Binaries, entry[0]), entry[1..], environment))
        {
            var status = await BrokerEnvironment.CallJsonAsync(client, "broker.status", []);
            Assert.Equal("default", status.GetProperty("profile").GetString());
        }

        Assert.True(File.Exists(environment["MCP_BROKER_CONFIG"]), "the starter config where the image's MCP_BROKER_CONFIG points");
        await Wait.UntilAsync(() => Processes.Matching(home).Count == 0, "nothing the entry point started to outlive its session");
    }

    /// <summary>A user with only <paramref name="home"/>, as a host or an image gives it: no config, no broker or XDG variables.</summary>
    private static Dictionary<string, string?> EmptyHome(BrokerEnvironment env, string home) => new(env.ProcessEnvironment)
    {
        ["HOME"] = home,
        ["XDG_CACHE_HOME"] = null,
        ["XDG_CONFIG_HOME"] = null,
        ["XDG_RUNTIME_DIR"] = null,
        ["XDG_STATE_HOME"] = null,
        ["MCP_BROKER_CLI"] = null,
    };

    private static async Task<McpClient> ConnectAsync(string command, IList<string> args, Dictionary<string, string?> environment) =>
        await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = command,
            Arguments = args,
            EnvironmentVariables = environment,
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "release-test", Version = "1" } });

    [GeneratedRegex(@"\$\{([^}]+)\}")]
    private static partial Regex Placeholder();
}
