using System.Diagnostics;
using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Service;

/// <summary>
/// The daemon as a service. This machine has no user systemd to talk to, so `systemctl` is a stand-in script on PATH
/// that records how it was called: what is tested is which files the CLI writes, backs up and removes, and which
/// commands it runs, in order. Socket activation is real: systemd-socket-activate speaks the same protocol as systemd.
/// </summary>
public sealed class ServiceJourneyTests
{
    [Fact]
    public async Task ServiceInstall_IsADryRunUntilApply_ThenWritesTheUnit_BacksUpWhatItReplaces_AndUninstallRemovesIt()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var bin = Directory.CreateDirectory(Path.Combine(env.Root, "stub-bin")).FullName;
        var calls = Path.Combine(env.Root, "systemctl.calls");
        var systemctl = Path.Combine(bin, "systemctl");
        await File.WriteAllTextAsync(systemctl, "#!/bin/sh\necho \"$*\" >> \"" + calls + "\"\n");
        File.SetUnixFileMode(systemctl, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        env.ExtraEnvironment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        env.ExtraEnvironment["XDG_CONFIG_HOME"] = Path.Combine(env.Root, "xdg");
        var unit = Path.Combine(env.Root, "xdg", "systemd", "user", "mcp-broker.service");

        // A dry run prints the whole unit and the commands, and touches nothing.
        var dry = await env.RunCliAsync("service", "install", "--config", env.ConfigPath);
        Assert.True(dry.ExitCode == 0, dry.Stdout + dry.Stderr);
        Assert.Contains($"# would write {unit}", dry.Stdout);
        Assert.Contains("Type=notify", dry.Stdout);
        Assert.Contains("systemctl --user enable mcp-broker.service", dry.Stdout);
        Assert.False(File.Exists(unit));
        Assert.False(File.Exists(calls));

        var apply = await env.RunCliAsync("service", "install", "--apply", "--config", env.ConfigPath);
        Assert.True(apply.ExitCode == 0, apply.Stdout + apply.Stderr);
        var written = await File.ReadAllTextAsync(unit);
        Assert.Contains(written, dry.Stdout);
        Assert.Contains($"--config {env.ConfigPath} --log-file", written);
        Assert.Equal(["--user daemon-reload", "--user enable mcp-broker.service"], await File.ReadAllLinesAsync(calls));

        var status = await env.RunCliAsync("service", "status", "--config", env.ConfigPath);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains($"{unit}: installed", status.Stdout);

        // A changed unit is backed up, byte for byte, before it is replaced; status saw the difference first.
        await File.AppendAllTextAsync(unit, "# a local edit\n");
        var edited = await File.ReadAllBytesAsync(unit);
        var drifted = await env.RunCliAsync("service", "status", "--config", env.ConfigPath);
        Assert.Equal(1, drifted.ExitCode);
        Assert.Contains("differs from what 'service install' writes now", drifted.Stdout);
        var again = await env.RunCliAsync("service", "install", "--apply", "--config", env.ConfigPath);
        Assert.Equal(0, again.ExitCode);
        var backup = Assert.Single(Directory.GetFiles(Path.Combine(env.Root, "backups", "service")));
        Assert.Contains($"replaced {unit} (backup {backup})", again.Stdout);
        Assert.Equal(edited, await File.ReadAllBytesAsync(backup));
        Assert.Equal(written, await File.ReadAllTextAsync(unit));

        // Another platform's plan can be printed here, not applied.
        var launchd = await env.RunCliAsync("service", "install", "--platform", "launchd", "--config", env.ConfigPath);
        Assert.Equal(0, launchd.ExitCode);
        Assert.Contains("<key>RunAtLoad</key>", launchd.Stdout);
        var refused = await env.RunCliAsync("service", "install", "--platform", "launchd", "--apply", "--config", env.ConfigPath);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("this machine is systemd", refused.Stderr);
        var unknown = await env.RunCliAsync("service", "install", "--platform", "upstart", "--config", env.ConfigPath);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("systemd, launchd or windows", unknown.Stderr);

        File.Delete(calls);
        var uninstall = await env.RunCliAsync("service", "uninstall", "--apply", "--config", env.ConfigPath);
        Assert.True(uninstall.ExitCode == 0, uninstall.Stdout + uninstall.Stderr);
        Assert.False(File.Exists(unit));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(env.Root, "backups", "service")).Length);
        Assert.Equal(["--user disable --now mcp-broker.socket", "--user disable --now mcp-broker.service", "--user daemon-reload"], await File.ReadAllLinesAsync(calls));
    }

    [Fact]
    public async Task SocketActivation_TheDaemonStartsOnTheFirstConnection_AndServesOnTheSocketItWasGiven()
    {
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        var sockets = Directory.CreateDirectory(Path.Combine(env.Root, "sockets"));
        File.SetUnixFileMode(sockets.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var start = new ProcessStartInfo("systemd-socket-activate") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var arg in new[] { "--listen", env.SocketPath, Repo.Cli, "daemon", "--config", env.ConfigPath, "--log-file" })
        {
            start.ArgumentList.Add(arg);
        }

        env.ApplyEnvironment(start);

        using var activator = Process.Start(start)!;
        try
        {
            await Wait.UntilAsync(() => File.Exists(env.SocketPath), "systemd-socket-activate to listen");
            Assert.Null(env.DaemonPid);

            // The first client's connection starts the daemon, which takes the socket instead of binding its own.
            var client = await env.ConnectAsync("raw");
            Assert.Equal("echo: activated", await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "activated" }));
            var status = JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement.GetProperty("daemon");
            Assert.True(status.GetProperty("socket_activated").GetBoolean());
            Assert.Equal(activator.Id, status.GetProperty("pid").GetInt32()); // systemd-socket-activate execs the daemon
            Assert.Equal(activator.Id, env.DaemonPid);
        }
        finally
        {
            if (env.DaemonPid is null && !activator.HasExited)
            {
                activator.Kill();
            }
        }
    }
}
