using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Config;

/// <summary>
/// The daemon's environment (Upstreams/DaemonEnvironment.cs) does not depend on which client's shim started it: real
/// daemons started by shims with different environments, and a test upstream that reports its whole environment.
/// </summary>
public sealed class DaemonEnvironmentJourneyTests
{
    [LinuxFact]
    public async Task TwoClientsWithDifferentEnvironments_StartingTheDaemon_GiveUpstreamsTheSameEnvironment_UntilACaptureFromTheShell()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}", args: [--print-env-tool], env_from: { TOKEN: MB_ENV_TEST_TOKEN } }
            """);
        var path = Environment.GetEnvironmentVariable("PATH");
        async Task<Dictionary<string, string>> UpstreamEnvironmentAsync(string who, params (string Name, string Value)[] variables)
        {
            env.ExtraEnvironment.Clear();
            env.ExtraEnvironment["HOME"] = Directory.CreateDirectory(Path.Combine(env.Root, who, "home")).FullName;
            env.ExtraEnvironment["PATH"] = $"/{who}/bin:{path}";
            env.ExtraEnvironment["LANG"] = $"{who}.UTF-8";
            env.ExtraEnvironment["MB_ENV_TEST_TOKEN"] = $"token-of-{who}";
            foreach (var (name, value) in variables)
            {
                env.ExtraEnvironment[name] = value;
            }

            var client = await env.ConnectAsync("raw");
            // Read from the process itself: what the env tool answers has the configured secrets masked (SecretMask).
            var pid = await BrokerEnvironment.CallTextAsync(client, "t.pid", []);
            var environ = await File.ReadAllTextAsync($"/proc/{pid}/environ");
            await env.StopDaemonAndAssertNothingLeftAsync();
            // Less the process-tree marker, which is new for every upstream process by design (ProcessTree).
            return environ.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2))
                .Where(p => p[0] != "MCP_BROKER_UPSTREAM_ID").ToDictionary(p => p[0], p => p[1]);
        }

        // Claude's shim starts the daemon first; after it stops, Gemini's starts the next one.
        var first = await UpstreamEnvironmentAsync("claude", ("CLAUDE_CODE_ENTRYPOINT", "cli"));
        var second = await UpstreamEnvironmentAsync("gemini", ("GEMINI_CLI", "1"));

        Assert.Equal(first, second);
        Assert.Equal(PasswdHome(), first["HOME"]);
        Assert.Equal($"/claude/bin:{path}", first["PATH"]); // captured when the first daemon started, kept since
        Assert.Equal("claude.UTF-8", first["LANG"]);
        Assert.Equal("token-of-claude", first["TOKEN"]);
        Assert.DoesNotContain(first.Keys, k => k.StartsWith("CLAUDE_", StringComparison.Ordinal) || k.StartsWith("GEMINI_", StringComparison.Ordinal) || k == "MB_ENV_TEST_TOKEN");
        Assert.DoesNotContain("MCP_BROKER_TEST_CANARY", first.Keys);

        // doctor says where it came from, and that a client's environment is not the user's shell's.
        var doctor = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Matches(@"WARN     upstream environment .*daemon\.env: the first daemon start, from the environment of mcp-broker-client --client xunit \(pid \d+\).*fix: mcp-broker daemon env --capture", doctor.Stdout);

        // Captured from the user's shell: every later daemon uses that, whoever starts it; status and doctor say so.
        env.ExtraEnvironment["PATH"] = $"/shell/bin:{path}";
        env.ExtraEnvironment["MB_ENV_TEST_TOKEN"] = "token-of-the-shell";
        var capture = await env.RunCliAsync("daemon", "env", "--capture", "--config", env.ConfigPath);
        Assert.True(capture.ExitCode == 0, capture.Stderr);
        Assert.Contains("MB_ENV_TEST_TOKEN", capture.Stdout);
        Assert.DoesNotContain("token-of-the-shell", capture.Stdout);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(env.Root, "secrets", "daemon.env")));

        var third = await UpstreamEnvironmentAsync("opencode");
        Assert.Equal($"/shell/bin:{path}", third["PATH"]);
        Assert.Equal("token-of-the-shell", third["TOKEN"]);
        Assert.Equal(PasswdHome(), third["HOME"]);

        await env.ConnectAsync("raw");
        var status = JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement.GetProperty("daemon").GetProperty("environment");
        Assert.Equal("mcp-broker daemon env --capture, from the shell", status.GetProperty("source").GetString());
        Assert.True(status.GetProperty("from_shell").GetBoolean());
        Assert.Contains("TOKEN", status.GetProperty("variables").EnumerateArray().Select(v => v.GetString()!).Single(v => v.Contains("TOKEN", StringComparison.Ordinal)));
        var text = await env.RunCliAsync("status", "--table", "--config", env.ConfigPath);
        Assert.True(text.Stdout.Contains("(mcp-broker daemon env --capture, from the shell)", StringComparison.Ordinal), text.Stdout);
        Assert.DoesNotContain("token-of-the-shell", text.Stdout);
        Assert.Contains("ok       upstream environment", (await env.RunCliAsync("doctor", "--config", env.ConfigPath)).Stdout);
    }

    /// <summary>This user's home directory as the passwd database has it (getent), whatever HOME says.</summary>
    private static string PasswdHome()
    {
        using var getent = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("getent", ["passwd", Environment.UserName]) { RedirectStandardOutput = true })!;
        var line = getent.StandardOutput.ReadToEnd().Trim();
        getent.WaitForExit();
        return line.Split(':')[5];
    }
}
