using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Cli;

/// <summary>
/// A new user's first commands, before any config exists: each says what to do next (config init), in the documented
/// exit codes, with no .NET exception text; and one --dry-run vocabulary for every command that changes files.
/// </summary>
public sealed class BrokerCliJourneyTests
{
    [Fact]
    public async Task NoConfig_StatusDoctorAndBareCommand_SayWhatToDoNext_InTheDocumentedExitCodes()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var home = Path.Combine(env.Root, "home");
        Directory.CreateDirectory(home);
        env.ExtraEnvironment["HOME"] = home;
        env.ExtraEnvironment["XDG_CONFIG_HOME"] = null;
        var path = Path.Combine(home, ".config", "mcp-broker", "broker.yaml");

        var status = await env.RunCliAsync("status", "--table");
        Assert.Equal(3, status.ExitCode);
        Assert.Contains($"no config at {path}; run 'mcp-broker config init'", status.Stderr);
        var statusJson = await env.RunCliAsync("status", "--json");
        Assert.Equal(3, statusJson.ExitCode);
        Assert.True(JsonDocument.Parse(statusJson.Stdout).RootElement.GetProperty("config_missing").GetBoolean());
        Assert.Equal(3, (await env.RunCliAsync("top", "--once")).ExitCode);

        var doctor = await env.RunCliAsync("doctor");
        Assert.Equal(1, doctor.ExitCode);
        Assert.Contains($"PROBLEM  no config at {path}; fix: mcp-broker config init", doctor.Stdout);
        var doctorJson = await env.RunCliAsync("doctor", "--json");
        var report = JsonDocument.Parse(doctorJson.Stdout).RootElement;
        Assert.False(report.GetProperty("ok").GetBoolean());
        Assert.Contains(report.GetProperty("findings").EnumerateArray(), f => f.GetProperty("level").GetString() == "problem"
            && f.GetProperty("fix").GetString()!.StartsWith("mcp-broker config init", StringComparison.Ordinal));

        var show = await env.RunCliAsync("config", "show");
        Assert.Equal(1, show.ExitCode);
        Assert.Equal($"mcp-broker: no config at {path}; run 'mcp-broker config init' to write a commented starter there (or pass --config PATH, or set MCP_BROKER_CONFIG)", show.Stderr.Trim());

        foreach (var run in new[] { status, statusJson, doctor, show, await env.RunCliAsync("config", "validate") })
        {
            Assert.DoesNotContain("Could not find", run.Stdout + run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", run.Stdout + run.Stderr, StringComparison.Ordinal);
        }

        var bare = await env.RunCliAsync();
        Assert.Equal(0, bare.ExitCode);
        Assert.Contains("Usage:", bare.Stdout);
        Assert.Contains("config", bare.Stdout);
        Assert.Contains("doctor", bare.Stdout);

        // Dry run of init: the starter on stdout, nothing written; then init, and status says no daemon runs (still 3).
        var dry = await env.RunCliAsync("config", "init", "--dry-run");
        Assert.Equal(0, dry.ExitCode);
        Assert.Contains("schema_version: 1", dry.Stdout);
        Assert.False(File.Exists(path));
        Assert.Equal(0, (await env.RunCliAsync("config", "init")).ExitCode);
        var none = await env.RunCliAsync("status", "--table");
        Assert.Equal(3, none.ExitCode);
        Assert.Contains("no daemon running", none.Stdout);
    }

    [Fact]
    public async Task DryRun_IsAcceptedByEveryCommandThatChangesFiles_AndWritesNothing()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            clients:
              claude: { format: claude-json, config_path: "{{root}}/home/.claude.json" }
            """);
        var clientFile = Path.Combine(env.Root, "home", ".claude.json");

        var service = await env.RunCliAsync("service", "install", "--dry-run", "--platform", "systemd", "--config", env.ConfigPath);
        Assert.True(service.ExitCode == 0, service.Stderr);
        Assert.Contains("mcp-broker.service", service.Stdout);
        var both = await env.RunCliAsync("service", "install", "--dry-run", "--apply", "--config", env.ConfigPath);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("--apply and --dry-run contradict each other", both.Stderr);
        Assert.Equal(0, (await env.RunCliAsync("service", "uninstall", "--dry-run", "--platform", "launchd", "--config", env.ConfigPath)).ExitCode);

        var apply = await env.RunCliAsync("client", "apply", "claude", "--dry-run", "--config", env.ConfigPath);
        Assert.True(apply.ExitCode == 0, apply.Stderr);
        Assert.Contains("mcp-broker", apply.Stdout);
        Assert.False(File.Exists(clientFile));

        Assert.NotEqual(2, (await env.RunCliAsync("client", "import", "claude", "--dry-run", "--config", env.ConfigPath)).ExitCode);
        Assert.NotEqual(2, (await env.RunCliAsync("client", "apps-policy", "claude", "--dry-run", "--config", env.ConfigPath)).ExitCode);
        Assert.Equal(0, (await env.RunCliAsync("config", "init", "--dry-run", "--config", Path.Combine(env.Root, "other.yaml"))).ExitCode);
        Assert.False(File.Exists(Path.Combine(env.Root, "other.yaml")));
        Assert.False(File.Exists(clientFile));
    }

    [Fact]
    public async Task Typos_InCommandsOptionsProfilesAndUpstreams_GetTheNameMeant()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root));

        var command = await env.RunCliAsync("stauts", "--config", env.ConfigPath);
        Assert.Equal(2, command.ExitCode);
        Assert.Contains("Unrecognized command or argument 'stauts'; did you mean 'status'?", command.Stderr);
        Assert.DoesNotContain("Required command", command.Stderr);
        var option = await env.RunCliAsync("status", "--jsno", "--config", env.ConfigPath);
        Assert.Contains("'--jsno'; did you mean '--json'?", option.Stderr);

        var profile = await env.RunCliAsync("measure", "--profile", "rwa", "--config", env.ConfigPath);
        Assert.Equal(1, profile.ExitCode);
        Assert.Contains("no profile named 'rwa'", profile.Stderr);
        Assert.Contains("did you mean 'raw'?", profile.Stderr);
        var upstream = await env.RunCliAsync("logs", "--upstream", "tt", "--config", env.ConfigPath);
        Assert.Equal(1, upstream.ExitCode);
        Assert.Contains("no upstream named 'tt'", upstream.Stderr);
        Assert.Contains("did you mean 't'?", upstream.Stderr);
    }

    [Fact]
    public async Task ConfigValidateAndDaemonReap_Json_IsOneObject_WithTheSameExitCode()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root));
        var bad = Path.Combine(env.Root, "bad.yaml");
        await File.WriteAllTextAsync(bad, "schema_version: 1\nupstreams:\n  a: { comand: x }\n");

        var valid = await env.RunCliAsync("config", "validate", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, valid.ExitCode);
        var ok = JsonDocument.Parse(valid.Stdout).RootElement;
        Assert.True(ok.GetProperty("valid").GetBoolean());
        Assert.Equal(1, ok.GetProperty("upstreams").GetInt32());

        var invalid = await env.RunCliAsync("config", "validate", "--json", "--config", bad);
        Assert.Equal(1, invalid.ExitCode);
        var errors = JsonDocument.Parse(invalid.Stdout).RootElement.GetProperty("errors").EnumerateArray().ToList();
        Assert.Contains(errors, e => e.GetProperty("path").GetString() == "upstreams.a.comand");
        Assert.Contains(errors, e => e.GetProperty("path").GetString() == "upstreams.a.command");

        var reap = await env.RunCliAsync("daemon", "reap", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, reap.ExitCode);
        Assert.Equal(0, JsonDocument.Parse(reap.Stdout).RootElement.GetProperty("reaped").GetArrayLength());
    }
}
