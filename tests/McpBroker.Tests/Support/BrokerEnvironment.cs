using System.Diagnostics;
using System.Text;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Support;

internal sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// A throwaway runtime root with a config of real npm servers, the real CLI and shim executables, and clients
/// that connect through the shim. Disposing stops the daemon and asserts that no process it started remains.
/// </summary>
internal sealed class BrokerEnvironment : IAsyncDisposable
{
    private readonly List<McpClient> _clients = [];
    private readonly HashSet<ProcessInfo> _seen = [];

    private BrokerEnvironment(string root)
    {
        Root = root;
        ConfigPath = Path.Combine(root, "broker.yaml");
    }

    public string Root { get; }

    public string ConfigPath { get; }

    public string SocketPath => Path.Combine(Root, "sockets", "broker.sock");

    public static string DefaultConfig(string root) => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 60s }
        profiles:
          default:  { compact_tools_enabled: true, allow_mutating_upstreams: ["*"] }
          raw:      { compact_tools_enabled: false, max_tools: 500, allow_mutating_upstreams: ["*"] }
          snake:    { compact_tools_enabled: true, broker_tool_name_style: snake, allow_mutating_upstreams: ["*"] }
          tiny:     { compact_tools_enabled: false, max_tools: 3 }
          readonly: { compact_tools_enabled: true }
          readonly_raw: { compact_tools_enabled: false, max_tools: 500, broker_tool_name_style: snake }
        upstreams:
          memory:
            command: "{{Repo.NodeBin("mcp-server-memory")}}"
            env: { MEMORY_FILE_PATH: "{upstream.state_dir}/memory.jsonl" }
            purpose: knowledge graph memory
            tags: [notes, memory]
          everything:
            command: "{{Repo.NodeBin("mcp-server-everything")}}"
            purpose: reference server exercising every MCP feature
          filesystem:
            command: "{{Repo.NodeBin("mcp-server-filesystem")}}"
            args: ["{runtime.state_dir}"]
            purpose: read and write files
        """;

    /// <summary>A raw profile and the in-repo test upstream 't', plus <paramref name="upstreams"/> (lines indented two spaces).</summary>
    public static string TestUpstreamConfig(string root, string upstreams = "") => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        profiles:
          raw: { compact_tools_enabled: false }
        upstreams:
          t: { command: "{{Repo.TestUpstream}}" }
        {{upstreams}}
        """;

    public static async Task<BrokerEnvironment> CreateAsync(Func<string, string>? config = null)
    {
        await NpmUpstreams.EnsureInstalledAsync();

        // Short, so the socket path stays under the 107-byte limit.
        var root = Directory.CreateTempSubdirectory("mb-").FullName;
        var env = new BrokerEnvironment(root);
        await File.WriteAllTextAsync(env.ConfigPath, (config ?? DefaultConfig)(root));
        return env;
    }

    /// <summary>Variables a test adds to <see cref="ProcessEnvironment"/> (so to the daemon a shim starts).</summary>
    public Dictionary<string, string?> ExtraEnvironment { get; } = [];

    /// <summary>The environment every process of this test gets: its own pointer-file cache, the CLI to start daemons with.</summary>
    public Dictionary<string, string?> ProcessEnvironment => new(ExtraEnvironment)
    {
        ["XDG_CACHE_HOME"] = Path.Combine(Root, "xdg-cache"),
        ["MCP_BROKER_CLI"] = Repo.Cli,
        ["MCP_BROKER_CONFIG"] = null,

        // In the daemon's environment (it inherits the shim's) but not in any upstream's: upstream env is explicit.
        ["MCP_BROKER_TEST_CANARY"] = "canary-must-not-reach-upstreams",
        ["MCP_BROKER_SOCKET"] = null,
    };

    public int? DaemonPid =>
        File.Exists(Path.Combine(Root, "run", "daemon.pid")) && int.TryParse(File.ReadAllText(Path.Combine(Root, "run", "daemon.pid")), out var pid) ? pid : null;

    /// <summary>An MCP client session through a freshly launched shim, as an agent CLI would start it.</summary>
    /// <param name="handlers">The client's answers to server-to-client requests (sampling, elicitation, roots) and its notification handlers.</param>
    public async Task<McpClient> ConnectAsync(string profile = "default", string? protocolVersion = null, IEnumerable<string>? extraArgs = null, CancellationToken ct = default,
        McpClientHandlers? handlers = null, ClientCapabilities? capabilities = null)
    {
        var client = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = Repo.Shim,
            Arguments = ["--profile", profile, "--config", ConfigPath, "--client", "xunit", .. extraArgs ?? []],
            EnvironmentVariables = ProcessEnvironment,
        }), new McpClientOptions
        {
            ClientInfo = new Implementation { Name = "journey-test", Version = "1" },
            ProtocolVersion = protocolVersion,
            Handlers = handlers ?? new McpClientHandlers(),
            Capabilities = capabilities,
        }, cancellationToken: ct);
        _clients.Add(client);
        RememberProcesses();
        return client;
    }

    /// <summary>Gives a process this test's environment (<see cref="ProcessEnvironment"/>: set, or removed when null).</summary>
    public void ApplyEnvironment(ProcessStartInfo start)
    {
        foreach (var (key, value) in ProcessEnvironment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }
    }

    public async Task<CliResult> RunCliAsync(params string[] args) => await RunAsync(Repo.Cli, args, stdin: null);

    public async Task<CliResult> RunAsync(string fileName, IEnumerable<string> args, string? stdin, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        ApplyEnvironment(start);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        await process.WaitForExitAsync().WaitAsync(timeout ?? Wait.Timeout);
        RememberProcesses();
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Calls a tool and returns its text, failing the test on an error result.</summary>
    public static async Task<string> CallTextAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));
        Assert.False(result.IsError == true, $"{tool} returned an error: {text}");
        return text;
    }

    /// <summary>The upstreams part of broker.status, one element per upstream.</summary>
    public static async Task<List<JsonElement>> UpstreamStatusAsync(McpClient client) =>
        (await CallJsonAsync(client, "broker.status", [])).GetProperty("upstreams").EnumerateArray().ToList();

    /// <summary>The structured error of a facade error result, failing the test when the result is not one.</summary>
    public static JsonElement ErrorOf(CallToolResult result)
    {
        var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));
        Assert.True(result.IsError == true, "expected an error result, got: " + text);
        Assert.StartsWith("{", text);
        return JsonDocument.Parse(text).RootElement.GetProperty("error").Clone();
    }

    public static async Task<JsonElement> CallJsonAsync(McpClient client, string tool, Dictionary<string, object?> args) =>
        JsonDocument.Parse(await CallTextAsync(client, tool, args)).RootElement.Clone();

    /// <summary>Records the daemon and everything below it, so disposal can prove they are all gone.</summary>
    public void RememberProcesses()
    {
        if (DaemonPid is { } pid && Processes.Get(pid) is { } daemon && daemon.CommandLine.Contains(Root, StringComparison.Ordinal))
        {
            _seen.Add(daemon);
            foreach (var child in Processes.Descendants(pid))
            {
                _seen.Add(child);
            }
        }
    }

    public async Task StopDaemonAndAssertNothingLeftAsync()
    {
        RememberProcesses();
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }

        _clients.Clear();
        var stop = await RunCliAsync("daemon", "stop", "--config", ConfigPath);
        Assert.True(stop.ExitCode == 0, $"daemon stop exited {stop.ExitCode}: {stop.Stdout}{stop.Stderr}");
        await Wait.UntilAsync(() => !_seen.Any(p => p.StillRuns()), "every process the broker started to exit", TimeSpan.FromSeconds(30));
        Assert.Empty(Processes.Matching(Root));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            RememberProcesses();
            if (_seen.Count > 0 || _clients.Count > 0)
            {
                await StopDaemonAndAssertNothingLeftAsync();
            }
        }
        finally
        {
            // Whatever a failed test left behind must not outlive it: kill what was seen (the daemon first among
            // them), then reap by the records what the dead daemon started after the last look.
            // Only the very processes seen (pid and start time): a pid reused by another test's process is not ours.
            var left = _seen.Where(p => p.StillRuns()).ToList();
            foreach (var process in left)
            {
                Processes.Kill(process.Pid, 9);
            }

            await Wait.UntilAsync(() => !left.Any(p => p.StillRuns()), "leftover processes to die", TimeSpan.FromSeconds(10))
                .ContinueWith(_ => { }, TaskScheduler.Default);
            await new McpBroker.Upstreams.ProcessRecords(Path.Combine(Root, "run")).ReapOrphansAsync();

            if (Environment.GetEnvironmentVariable("MCP_BROKER_KEEP_TEST_ROOT") != "1") { Directory.Delete(Root, recursive: true); }
        }
    }

    public static string Describe(IEnumerable<ProcessInfo> processes) =>
        new StringBuilder().AppendJoin("\n", processes.Select(p => $"{p.Pid} {p.CommandLine}")).ToString();
}
