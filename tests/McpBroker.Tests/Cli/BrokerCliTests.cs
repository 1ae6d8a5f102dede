using System.Net.Sockets;
using System.Text.Json;
using McpBroker.Cli;

namespace McpBroker.Tests.Cli;

/// <summary>
/// The command tree invoked in this process with writers of its own: what each command prints, on which stream, and
/// its exit code (README, "Exit codes"). The process-level tests (Cli/ConfigCommandsJourneyTests and the other …JourneyTests) run the real executable.
/// </summary>
public sealed class BrokerCliTests : IDisposable
{
    private const string Secret = "sk-live-0123456789abcdef";

    private readonly string _root = Directory.CreateTempSubdirectory("mb-cli-").FullName;

    public BrokerCliTests()
    {
        File.WriteAllText(ConfigPath, $$"""
            schema_version: 1
            runtime: { root: "{{_root}}/rt" }
            upstreams:
              t:
                command: "{{Support.Repo.TestUpstream}}"
                env: { API_KEY: "{{Secret}}" }
            clients:
              claude: { format: claude-json, config_path: "{{_root}}/home/.claude.json" }
            """);
    }

    private string ConfigPath => Path.Combine(_root, "broker.yaml");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task<(int ExitCode, string Stdout, string Stderr)> InvokeAsync(string[] args, CancellationToken ct = default)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await BrokerCli.InvokeAsync(args, output, error, ct);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Invokes a command line with this test's config.</summary>
    private Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) => InvokeAsync([.. args, "--config", ConfigPath]);

    [Fact]
    public async Task Help_ListsTheVerbs_HidesShim_AndExitsZero()
    {
        var (exit, stdout, stderr) = await InvokeAsync([]);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal("", stderr);
        Assert.Contains("Usage:", stdout);
        Assert.Contains("--config <PATH>", stdout);
        foreach (var verb in new[] { "config", "daemon", "status", "doctor", "client", "service", "stdio" })
        {
            Assert.Contains($"\n  {verb} ", stdout);
        }

        Assert.DoesNotContain("shim", stdout);
    }

    [Fact]
    public async Task UnknownVerb_IsAUsageError_WithTheNearestVerb()
    {
        var (exit, stdout, stderr) = await InvokeAsync(["dotor"]);

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal("", stdout);
        Assert.Contains("did you mean 'doctor'?", stderr);
        Assert.Contains("Run 'mcp-broker --help' for usage.", stderr);
    }

    [Fact]
    public async Task ContradictingOptions_AreAUsageError_AndChangeNothing()
    {
        var (exit, stdout, stderr) = await RunAsync("service", "install", "--apply", "--dry-run");

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal("", stdout);
        Assert.Equal("mcp-broker: --apply and --dry-run contradict each other; pass one", stderr.Trim());
    }

    [Fact]
    public async Task ConfigValidate_Json_IsOneObjectOnStdout_WithoutSecrets()
    {
        var (exit, stdout, stderr) = await RunAsync("config", "validate", "--json");

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal("", stderr);
        var result = JsonDocument.Parse(stdout).RootElement;
        Assert.True(result.GetProperty("valid").GetBoolean());
        Assert.Equal(1, result.GetProperty("upstreams").GetInt32());
        Assert.DoesNotContain(Secret, stdout);
    }

    [Fact]
    public async Task ConfigValidate_Invalid_ListsErrorsOnStderr_AndFails()
    {
        var bad = Path.Combine(_root, "bad.yaml");
        await File.WriteAllTextAsync(bad, "schema_version: 1\nupstreams:\n  a: { comand: x }\n");

        var (exit, stdout, stderr) = await InvokeAsync(["config", "validate", "--config", bad]);
        var (jsonExit, json, _) = await InvokeAsync(["config", "validate", "--json", "--config", bad]);

        Assert.Equal(ExitCodes.Failure, exit);
        Assert.Equal("", stdout);
        Assert.Contains("upstreams.a.comand: unknown key 'comand'", stderr);
        Assert.Equal(ExitCodes.Failure, jsonExit);
        Assert.Contains(JsonDocument.Parse(json).RootElement.GetProperty("errors").EnumerateArray(), e => e.GetProperty("path").GetString() == "upstreams.a.comand");
    }

    [Fact]
    public async Task Status_WithNoDaemon_ExitsNotRunning_InTextAndJson()
    {
        var (jsonExit, json, _) = await RunAsync("status", "--json");
        var (tableExit, table, _) = await RunAsync("status", "--table");

        Assert.Equal(ExitCodes.NotRunning, jsonExit);
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(json).RootElement.ValueKind);
        Assert.Equal(ExitCodes.NotRunning, tableExit);
        Assert.Contains("no daemon running", table);
    }

    [Fact]
    public async Task Doctor_Json_CarriesTheSameFindingsAsText_AndTheSameExitCode()
    {
        var (textExit, text, _) = await RunAsync("doctor");
        var (jsonExit, json, _) = await RunAsync("doctor", "--json");

        var report = JsonDocument.Parse(json).RootElement;
        var findings = report.GetProperty("findings").EnumerateArray().ToList();
        Assert.Equal(textExit, jsonExit);
        Assert.Equal(report.GetProperty("ok").GetBoolean() ? ExitCodes.Ok : ExitCodes.Failure, jsonExit);
        Assert.Equal(report.GetProperty("problems").GetInt32(), findings.Count(f => f.GetProperty("level").GetString() == "problem"));
        foreach (var finding in findings)
        {
            Assert.Contains(finding.GetProperty("text").GetString()!, text);
        }

        Assert.DoesNotContain(Secret, text + json);
    }

    [Fact]
    public async Task ClientBackups_Json_ListsEachBackup_AsTheTextDoes()
    {
        var (emptyExit, empty, _) = await RunAsync("client", "backups", "claude", "--json");
        Directory.CreateDirectory(Path.Combine(_root, "home"));
        await File.WriteAllTextAsync(Path.Combine(_root, "home", ".claude.json"), "{}");
        var (backupExit, _, _) = await RunAsync("client", "backup", "claude");
        var (textExit, text, _) = await RunAsync("client", "backups", "claude");
        var (jsonExit, json, _) = await RunAsync("client", "backups", "claude", "--json");

        Assert.Equal(ExitCodes.Ok, emptyExit);
        Assert.Empty(JsonDocument.Parse(empty).RootElement.GetProperty("backups").EnumerateArray());
        Assert.Equal(ExitCodes.Ok, backupExit);
        Assert.Equal((ExitCodes.Ok, ExitCodes.Ok), (textExit, jsonExit));
        var result = JsonDocument.Parse(json).RootElement;
        Assert.Equal(Path.Combine(_root, "home", ".claude.json"), result.GetProperty("config_path").GetString());
        var backup = Assert.Single(result.GetProperty("backups").EnumerateArray());
        Assert.Equal("manual", backup.GetProperty("reason").GetString());
        Assert.Equal(2, backup.GetProperty("bytes").GetInt64());
        Assert.Contains(backup.GetProperty("id").GetString()!, text);
    }

    [Fact]
    public async Task ServiceStatus_Json_NamesEachFileAndItsState()
    {
        // Another platform's files: read, never written, and no platform command is run.
        var other = OperatingSystem.IsMacOS() ? "systemd" : "launchd";
        var (textExit, text, _) = await RunAsync("service", "status", "--platform", other);
        var (jsonExit, json, _) = await RunAsync("service", "status", "--platform", other, "--json");

        var result = JsonDocument.Parse(json).RootElement;
        Assert.Equal(textExit, jsonExit);
        Assert.Equal(other, result.GetProperty("platform").GetString());
        Assert.False(result.GetProperty("this_platform").GetBoolean());
        Assert.Equal(jsonExit == ExitCodes.Ok, result.GetProperty("installed").GetBoolean());
        Assert.Empty(result.GetProperty("commands").EnumerateArray());
        foreach (var file in result.GetProperty("files").EnumerateArray())
        {
            Assert.Contains($"{file.GetProperty("path").GetString()}: {file.GetProperty("state").GetString()}", text);
        }
    }

    [Fact]
    public async Task DaemonEnv_Json_NamesTheVariables_NeverTheirValues()
    {
        var (beforeExit, before, _) = await RunAsync("daemon", "env", "--json");
        var (captureExit, capture, _) = await RunAsync("daemon", "env", "--capture", "--json");
        var (afterExit, after, _) = await RunAsync("daemon", "env", "--json");
        var (textExit, text, _) = await RunAsync("daemon", "env");

        Assert.Equal((ExitCodes.Ok, ExitCodes.Ok, ExitCodes.Ok, ExitCodes.Ok), (beforeExit, captureExit, afterExit, textExit));
        Assert.False(JsonDocument.Parse(before).RootElement.GetProperty("captured").GetBoolean());
        Assert.Contains("PATH", JsonDocument.Parse(capture).RootElement.GetProperty("captured").EnumerateArray().Select(n => n.GetString()));
        var variables = JsonDocument.Parse(after).RootElement.GetProperty("variables").EnumerateArray().Select(n => n.GetString()!).ToList();
        Assert.Contains("PATH", variables);
        Assert.Contains($"variables: {string.Join(", ", variables)}", text);
        Assert.DoesNotContain(Environment.GetEnvironmentVariable("PATH")!, capture + after + text);
    }

    [Fact]
    public async Task DaemonStop_WhenCancelled_StopsWaitingForTheDaemon()
    {
        // A socket that accepts and never answers: without the invocation's token the stop would wait out its own
        // timeout and report that no daemon runs.
        var socketPath = Path.Combine(_root, "rt", "sockets", "broker.sock");
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen();
        using var cts = new CancellationTokenSource();
        var accepted = AcceptThenCancelAsync(listener, cts);

        var (exit, stdout, _) = await InvokeAsync(["daemon", "stop", "--config", ConfigPath], cts.Token);

        Assert.True(cts.IsCancellationRequested);
        Assert.Equal(ExitCodes.Failure, exit);
        Assert.DoesNotContain("no daemon is running", stdout);
        (await accepted).Dispose();
    }

    private static async Task<Socket> AcceptThenCancelAsync(Socket listener, CancellationTokenSource cts)
    {
        var connection = await listener.AcceptAsync();
        await cts.CancelAsync();
        return connection;
    }
}
