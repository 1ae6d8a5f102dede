using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Packaging;

/// <summary>The .NET tool packages as a user installs them: packed, installed into a tool path, run.</summary>
public sealed class PackagingJourneyTests
{
    [Fact]
    public async Task ThePackedTools_InstallIntoAToolPath_RunTheDemo_AndClientEntriesStartTheShimThroughTheTool()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var packages = Path.Combine(env.Root, "packages");
        var tools = Path.Combine(env.Root, "tools");

        // A NuGet folder of its own: the packages are rebuilt with the same version on every run.
        env.ExtraEnvironment["NUGET_PACKAGES"] = Path.Combine(env.Root, "nuget");
        var pack = await env.RunAsync(Path.Combine(Repo.Root, "scripts", "pack"), [packages], stdin: null, TimeSpan.FromMinutes(5));
        Assert.True(pack.ExitCode == 0, pack.Stdout + pack.Stderr);
        Assert.Equal(["mcp-broker-client.0.1.0.nupkg", "mcp-broker.0.1.0.nupkg"], Directory.GetFiles(packages, "*.nupkg").Select(Path.GetFileName).Order());

        var install = await env.RunAsync("dotnet", ["tool", "install", "mcp-broker", "--tool-path", tools, "--add-source", packages], stdin: null, TimeSpan.FromMinutes(3));
        Assert.True(install.ExitCode == 0, install.Stdout + install.Stderr);
        var cli = Path.Combine(tools, "mcp-broker");

        var demo = await env.RunAsync(cli, ["demo"], stdin: null, TimeSpan.FromMinutes(5));
        Assert.True(demo.ExitCode == 0, demo.Stdout + demo.Stderr);
        Assert.Contains("demo complete", demo.Stdout);

        // With only the mcp-broker tool, a client entry runs 'mcp-broker shim' through the tool's launcher...
        var snippet = await env.RunAsync(cli, ["client", "snippet", "--format", "cursor", "--profile", "raw", "--config", env.ConfigPath], stdin: null);
        var entry = JsonDocument.Parse(snippet.Stdout[..(snippet.Stdout.LastIndexOf('}') + 1)]).RootElement.GetProperty("mcpServers").GetProperty("mcp-broker");
        Assert.Equal(cli, entry.GetProperty("command").GetString());
        var args = entry.GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToArray();
        Assert.Equal("shim", args[0]);

        // ... which is a working session (it starts the daemon with the same launcher).
        await using (var client = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = cli,
            Arguments = args,
            EnvironmentVariables = new Dictionary<string, string?>(env.ProcessEnvironment) { ["MCP_BROKER_CLI"] = null },
        })))
        {
            Assert.Equal("echo: tool", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "tool" }));
            env.RememberProcesses();
        }

        // 'stdio', the one-entry install, through the tool's launcher too (here the shim of the daemon just started).
        await using (var stdio = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = cli,
            Arguments = ["stdio", "--profile", "raw", "--config", env.ConfigPath],
            EnvironmentVariables = new Dictionary<string, string?>(env.ProcessEnvironment) { ["MCP_BROKER_CLI"] = null },
        })))
        {
            Assert.Equal("echo: stdio", await BrokerEnvironment.CallTextAsync(stdio, "t.echo", new() { ["message"] = "stdio" }));
        }

        // With the mcp-broker-client tool installed too (and on PATH), entries name it instead.
        var shimInstall = await env.RunAsync("dotnet", ["tool", "install", "mcp-broker-client", "--tool-path", tools, "--add-source", packages], stdin: null, TimeSpan.FromMinutes(3));
        Assert.True(shimInstall.ExitCode == 0, shimInstall.Stdout + shimInstall.Stderr);
        env.ExtraEnvironment["PATH"] = tools + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        var withShim = await env.RunAsync(cli, ["client", "snippet", "--format", "cursor", "--profile", "raw", "--config", env.ConfigPath], stdin: null);
        Assert.Contains($"\"command\": \"{Path.Combine(tools, "mcp-broker-client")}\"", withShim.Stdout);
        var version = await env.RunAsync(Path.Combine(tools, "mcp-broker-client"), ["--version"], stdin: null);
        Assert.Equal("0.1.0", version.Stdout.Trim());
    }

    [Fact]
    public async Task TheMcpbManifestRegistryEntryAndDockerfile_RunStdioModeWithOptionsTheCliHas_AtTheProjectsVersion()
    {
        var version = System.Xml.Linq.XDocument.Load(Path.Combine(Repo.Root, "Directory.Build.props")).Descendants("Version").Single().Value;
        var packaging = Path.Combine(Repo.Root, "packaging");
        var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(packaging, "mcpb", "manifest.json"))).RootElement;
        var server = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(packaging, "server.json"))).RootElement;
        Assert.Equal(version, manifest.GetProperty("version").GetString());
        Assert.Equal(version, server.GetProperty("version").GetString());
        var package = Assert.Single(server.GetProperty("packages").EnumerateArray());
        Assert.Equal(version, package.GetProperty("version").GetString());
        Assert.Equal("mcp-broker", package.GetProperty("identifier").GetString());

        // Every option the bundle, the registry entry and the image pass is one 'mcp-broker stdio' accepts.
        var help = await HelpAsync("stdio");
        var manifestArgs = manifest.GetProperty("server").GetProperty("mcp_config").GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToList();
        Assert.Equal("stdio", manifestArgs[0]);
        Assert.All(manifestArgs.Where(a => a.StartsWith("--", StringComparison.Ordinal)), option => Assert.Contains(option, help));
        var registryArgs = package.GetProperty("packageArguments").EnumerateArray().ToList();
        Assert.Equal("stdio", registryArgs[0].GetProperty("value").GetString());
        Assert.All(registryArgs.Skip(1), a => Assert.Contains(a.GetProperty("name").GetString()!, help));
        var dockerfile = await File.ReadAllTextAsync(Path.Combine(packaging, "Dockerfile"));
        Assert.Contains("ENTRYPOINT [\"mcp-broker\", \"stdio\", \"--init-if-missing\"]", dockerfile);
        Assert.Contains("--init-if-missing", help);
    }

    /// <summary>The CLI's help for a command.</summary>
    private static async Task<string> HelpAsync(string command)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Repo.Cli) { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(command);
        start.ArgumentList.Add("--help");
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Wait.Timeout);
        return output;
    }
}

