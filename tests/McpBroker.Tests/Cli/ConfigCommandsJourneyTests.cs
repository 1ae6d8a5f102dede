using McpBroker.Tests.Support;

namespace McpBroker.Tests.Cli;

/// <summary>The config commands as a user runs them: real executable, exit codes, stdout and stderr.</summary>
public sealed class ConfigCommandsJourneyTests
{
    [Fact]
    public async Task ConfigInit_WritesAValidStarter_AndNeverOverwritesWithoutForce()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var path = Path.Combine(env.Root, "fresh", "broker.yaml");

        var first = await env.RunCliAsync("config", "init", "--config", path);
        await File.AppendAllTextAsync(path, "# my edit\n");
        var second = await env.RunCliAsync("config", "init", "--config", path);
        var validate = await env.RunCliAsync("config", "validate", "--config", path);

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("--force", second.Stderr);
        Assert.EndsWith("# my edit\n", await File.ReadAllTextAsync(path));
        Assert.Equal(0, validate.ExitCode);
        Assert.Contains("valid", validate.Stdout);

        var forced = await env.RunCliAsync("config", "init", "--force", "--config", path);
        Assert.Equal(0, forced.ExitCode);
        Assert.DoesNotContain("# my edit", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task ConfigValidate_ExitCodes_SeparateValidInvalidAndUsage()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var bad = Path.Combine(env.Root, "bad.yaml");
        await File.WriteAllTextAsync(bad, "schema_version: 1\nupstreams:\n  a: { comand: x }\n  b: { command: y, mode: sometimes }\n");

        var valid = await env.RunCliAsync("config", "validate", "--config", env.ConfigPath);
        var invalid = await env.RunCliAsync("config", "validate", "--config", bad);
        var usage = await env.RunCliAsync("config", "validate", "--no-such-option");
        var missing = await env.RunCliAsync("config", "validate", "--config", Path.Combine(env.Root, "absent.yaml"));

        Assert.Equal(0, valid.ExitCode);
        Assert.Equal(1, invalid.ExitCode);
        Assert.Contains("upstreams.a.comand: unknown key 'comand'", invalid.Stderr);
        Assert.Contains("upstreams.a.command: a stdio upstream needs a command", invalid.Stderr);
        Assert.Contains("upstreams.b.mode: 'sometimes' is not one of", invalid.Stderr);
        Assert.Equal(2, usage.ExitCode);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("config init", missing.Stderr);
    }

    [Fact]
    public async Task ConfigShowAndSchema_PrintTheResolvedConfigAndTheCommittedSchema()
    {
        await using var env = await BrokerEnvironment.CreateAsync();

        var show = await env.RunCliAsync("config", "show", "--config", env.ConfigPath);
        var schema = await env.RunCliAsync("config", "schema");

        Assert.Equal(0, show.ExitCode);
        Assert.Contains($"socket_path: {env.SocketPath}", show.Stdout);
        Assert.Contains($"MEMORY_FILE_PATH: {env.Root}/state/upstreams/memory/memory.jsonl", show.Stdout);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(Repo.Root, "config", "broker.schema.json")), schema.Stdout);
    }

    [Fact]
    public async Task DaemonStop_WhenNoneRuns_SaysSoAndSucceeds()
    {
        await using var env = await BrokerEnvironment.CreateAsync();

        var stop = await env.RunCliAsync("daemon", "stop", "--config", env.ConfigPath);

        Assert.Equal(0, stop.ExitCode);
        Assert.Contains("no daemon is running", stop.Stdout);
    }

    [Fact]
    public async Task ClientSnippet_EveryFormat_MatchesItsGoldenFile_AndParsesInItsOwnSyntax()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var all = new System.Text.StringBuilder();
        foreach (var format in new[] { "codex-toml", "claude-json", "claude-desktop", "gemini-settings", "cursor", "vscode", "opencode", "mcp-settings-json", "copilot", "qwen", "zed", "goose" })
        {
            var run = await env.RunCliAsync("client", "snippet", "--config", env.ConfigPath, "--format", format, "--profile", "raw");
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Contains($"# {format}: merge this into", run.Stderr);
            if (format == "goose")
            {
                Assert.Contains($"cmd: \"{Repo.Shim}\"", run.Stdout);
            }
            else if (format == "codex-toml")
            {
                var table = (Tomlyn.Model.TomlTable)((Tomlyn.Model.TomlTable)Tomlyn.TomlSerializer.Deserialize<Tomlyn.Model.TomlTable>(run.Stdout)!["mcp_servers"])["mcp-broker"];
                Assert.Equal(Repo.Shim, table["command"]);
            }
            else
            {
                Assert.Contains(Repo.Shim, System.Text.Json.JsonDocument.Parse(run.Stdout).RootElement.ToString());
            }

            all.Append($"## {format}\n").Append(run.Stdout.Replace(Repo.Shim, "{shim}", StringComparison.Ordinal).Replace(env.ConfigPath, "{config}", StringComparison.Ordinal));
        }

        Golden.AssertMatches("client-snippets.txt", all.ToString());
        var byClientName = await env.RunCliAsync("client", "snippet", "--config", env.ConfigPath, "--format", "claude", "--profile", "raw");
        Assert.Contains("# claude-json: merge this into ~/.claude.json", byClientName.Stderr);
        var unknown = await env.RunCliAsync("client", "snippet", "--config", env.ConfigPath, "--format", "emacs");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("known: codex-toml, claude-json", unknown.Stderr);
        var noProfile = await env.RunCliAsync("client", "snippet", "--config", env.ConfigPath, "--format", "cursor", "--profile", "nope");
        Assert.Equal(1, noProfile.ExitCode);
        Assert.Contains("no profile named 'nope'", noProfile.Stderr);
    }
}
