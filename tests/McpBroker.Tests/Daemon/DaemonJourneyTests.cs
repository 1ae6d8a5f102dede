using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Daemon;

/// <summary>The daemon's process, socket and sharing behaviour, with real processes.</summary>
public sealed class DaemonJourneyTests
{
    [Fact]
    public async Task TwoConcurrentSessions_ThroughTwoShims_ShareOneUpstreamProcess()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var a = await env.ConnectAsync();
        var b = await env.ConnectAsync();
        var args = new Dictionary<string, object?> { ["name"] = "memory.read_graph", ["arguments"] = new Dictionary<string, object?>() };

        await Task.WhenAll(
            BrokerEnvironment.CallTextAsync(a, "broker.call_tool", args),
            BrokerEnvironment.CallTextAsync(b, "broker.call_tool", args));

        var memoryProcesses = Processes.Descendants(env.DaemonPid!.Value).Where(p => p.CommandLine.Contains("mcp-server-memory", StringComparison.Ordinal)).ToList();
        Assert.Single(memoryProcesses);
        var memory = (await BrokerEnvironment.CallJsonAsync(a, "broker.status", [])).GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "memory");
        Assert.Equal(memoryProcesses[0].Pid, memory.GetProperty("pid").GetInt32());
        Assert.Equal(2, memory.GetProperty("sessions").GetInt32());
        Assert.Equal("running", memory.GetProperty("state").GetString());
    }

    [Fact]
    public async Task DaemonStop_AfterUpstreamsRan_LeavesNoProcessBehind()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var client = await env.ConnectAsync();
        await BrokerEnvironment.CallTextAsync(client, "broker.search_tools", new() { ["query"] = "read a file" });
        var started = Processes.Descendants(env.DaemonPid!.Value);
        Assert.True(started.Count >= 3, "search with an empty cache starts every upstream: " + BrokerEnvironment.Describe(started));

        await env.StopDaemonAndAssertNothingLeftAsync();

        Assert.DoesNotContain(started, p => Processes.Alive(p.Pid));
        Assert.False(File.Exists(env.SocketPath));
    }

    [Fact]
    public async Task Socket_IsOwnerOnly_AndASecondDaemonForTheSameRootIsRefused()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        await env.ConnectAsync();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(env.SocketPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(env.SocketPath)!));
        var second = await env.RunCliAsync("daemon", "--config", env.ConfigPath);
        Assert.Equal(3, second.ExitCode);
        Assert.Contains("already running", second.Stderr);
    }

    [Fact]
    public async Task Shim_StdinClosedWithRequestsInFlight_StillDeliversEveryAnswer()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var input = string.Join("\n",
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""",
            """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"broker.search_tools","arguments":{"query":"remember that Alice likes tea"}}}""",
            """{"jsonrpc":"2.0","id":3,"method":"ping"}""") + "\n";

        // The search starts three upstreams, so its answer comes long after stdin has ended.
        var result = await env.RunAsync(Repo.Shim, ["--profile", "default", "--config", env.ConfigPath], input);

        Assert.Equal(0, result.ExitCode);
        var ids = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetInt32()).Order();
        Assert.Equal([1, 2, 3], ids);
        Assert.Contains("memory.create_entities", result.Stdout);
    }

    [Fact]
    public async Task TokenProfile_RefusesClientsWithoutItsToken_AndServesThoseThatPresentIt()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root)
            .Replace("profiles:\n", "profiles:\n  ops: { compact_tools_enabled: true, require_token_file: ops.token }\n", StringComparison.Ordinal));
        Directory.CreateDirectory(Path.Combine(env.Root, "secrets"));
        var tokenFile = Path.Combine(env.Root, "secrets", "ops.token");
        await File.WriteAllTextAsync(tokenFile, "s3cret-ops-token\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var exposed = await env.RunAsync(Repo.Shim, ["--profile", "ops", "--config", env.ConfigPath], "");
        Assert.Equal(1, exposed.ExitCode);
        Assert.Contains("readable by other users", exposed.Stderr);
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var wrong = Path.Combine(env.Root, "wrong.token");
        await File.WriteAllTextAsync(wrong, "guess");
        var right = Path.Combine(env.Root, "right.token");
        await File.WriteAllTextAsync(right, "s3cret-ops-token");

        var none = await env.RunAsync(Repo.Shim, ["--profile", "ops", "--config", env.ConfigPath], "");
        var guessed = await env.RunAsync(Repo.Shim, ["--profile", "ops", "--config", env.ConfigPath, "--token-file", wrong], "");
        var client = await env.ConnectAsync("ops", extraArgs: ["--token-file", right]);

        Assert.Equal(1, none.ExitCode);
        Assert.Contains("profile 'ops' requires its token", none.Stderr);
        Assert.Equal(1, guessed.ExitCode);
        Assert.Contains("requires its token", guessed.Stderr);
        Assert.DoesNotContain("s3cret", guessed.Stderr);
        Assert.Equal(4, (await client.ListToolsAsync()).Count);
        Assert.DoesNotContain("s3cret", await File.ReadAllTextAsync(Path.Combine(env.Root, "logs", "daemon.log")));
    }

    [LinuxFact]
    public async Task IdleDaemon_ValidConfigWithoutTelemetry_KeepsNoSchemaValidatorTelemetryOrOpenSsl()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root));
        var client = await env.ConnectAsync("raw");
        Assert.Equal("echo: hi", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "hi" }));

        var mapped = (await File.ReadAllLinesAsync($"/proc/{env.DaemonPid}/maps")).Select(l => Path.GetFileName(l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(5) ?? "")).ToHashSet();

        // Read from the right process: the daemon's own assembly is there.
        Assert.Contains("McpBroker.Core.dll", mapped);
        // The config is judged by checks generated from the schema (decision 0062): no schema library is loaded —
        // not JsonSchema.Net (the tests' oracle, and what 'profile validate' uses), nor NJsonSchema, Json.NET or Humanizer.
        Assert.DoesNotContain("JsonSchema.Net.dll", mapped);
        Assert.DoesNotContain("JsonPointer.Net.dll", mapped);
        Assert.DoesNotContain("Json.More.dll", mapped);
        Assert.DoesNotContain("NJsonSchema.dll", mapped);
        Assert.DoesNotContain("Newtonsoft.Json.dll", mapped);
        Assert.DoesNotContain("Humanizer.dll", mapped);
        // Without a telemetry section nothing of OpenTelemetry is loaded.
        Assert.DoesNotContain(mapped, name => name.StartsWith("OpenTelemetry", StringComparison.Ordinal));
        // Hashes on the idle path are managed (Shared/Sha256.cs): OpenSSL stays out.
        Assert.DoesNotContain(mapped, name => name.StartsWith("libcrypto", StringComparison.Ordinal) || name.StartsWith("libssl", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Shim_UnknownProfile_ExitsNonZeroWithOneClearLine()
    {
        await using var env = await BrokerEnvironment.CreateAsync();

        var result = await env.RunAsync(Repo.Shim, ["--profile", "nope", "--config", env.ConfigPath], "");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("no profile named 'nope'", line);
        Assert.Contains("default", line);
    }

    [Fact]
    public async Task Shim_InvalidConfig_ExitsNonZeroAndNamesTheError()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $"schema_version: 1\nruntime: {{ root: \"{root}\" }}\nupstreams:\n  x: {{ comand: npx }}\n");

        var result = await env.RunAsync(Repo.Shim, ["--config", env.ConfigPath], "");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("unknown key 'comand'", result.Stderr);
        Assert.Null(env.DaemonPid);
    }

    [Fact]
    public async Task RawProfile_ListsNamespacedToolsAndCallsThemByName_AndEnforcesMaxTools()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var raw = await env.ConnectAsync("raw");

        var tools = await raw.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "memory.create_entities");
        Assert.Contains(tools, t => t.Name == "everything.echo");
        Assert.DoesNotContain(tools, t => t.Name.StartsWith("broker.", StringComparison.Ordinal));
        var echo = await raw.CallToolAsync("everything.echo", new Dictionary<string, object?> { ["message"] = "raw" });
        Assert.Equal("Echo: raw", ((ModelContextProtocol.Protocol.TextContentBlock)echo.Content[0]).Text);

        var tiny = await env.ConnectAsync("tiny");
        var error = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(async () => await tiny.ListToolsAsync());
        Assert.Contains("max_tools budget of 3", error.Message);
    }
}
