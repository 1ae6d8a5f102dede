using McpBroker.Tests.Support;

namespace McpBroker.Tests.Cli;

/// <summary><c>tools warm</c> shows each upstream's start as it goes, with its seconds and what its package runner is doing.</summary>
public sealed class ToolsCommandsWarmJourneyTests
{
    [LinuxFact]
    public async Task ToolsWarm_NotATerminal_PrintsStartingLinesWithSeconds_AndSaysWhenNpxDownloads()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: { compact_tools_enabled: true }
            upstreams:
              fetched: { command: "{{root}}/bin/npx", args: [-y, fake-server] }
            """);

        // An npx that says what npm says when --yes fetches a package, then takes its time, as a download does.
        var bin = Directory.CreateDirectory(Path.Combine(env.Root, "bin")).FullName;
        var npx = Path.Combine(bin, "npx");
        await File.WriteAllTextAsync(npx, $"""
            #!/bin/sh
            echo "npm warn exec The following package was not found and will be installed: fake-server@1.2.3" >&2
            exec "{Repo.TestUpstream}" --start-delay 2500
            """.Replace("\r", "", StringComparison.Ordinal));
        File.SetUnixFileMode(npx, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var warm = await env.RunCliAsync("tools", "warm", "--config", env.ConfigPath);

        Assert.True(warm.ExitCode == 0, warm.Stdout + warm.Stderr);
        var lines = warm.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("fetched: starting… ", StringComparison.Ordinal) && l.EndsWith(" s (npx is downloading fake-server@1.2.3)", StringComparison.Ordinal));
        Assert.Matches(@"fetched: \d+ tool\(s\)", warm.Stdout);
        Assert.Contains("1 of 1 upstream(s) listed", warm.Stdout);
        await env.StopDaemonAndAssertNothingLeftAsync();
    }
}
