using System.Diagnostics;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;

namespace McpBroker.Tests.Daemon;

/// <summary>
/// Faults of the machine, not of the input (issue 27): a runtime root that fills up and then turns read-only while the
/// daemon runs. The daemon must keep answering, drop (and count) the log lines it cannot write, and leave no empty
/// record behind. The root is a small tmpfs mounted for the test, so nothing else on the machine fills up.
/// </summary>
public sealed class RuntimeRootFaultJourneyTests
{
    private static string Config(string root) => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        profiles:
          raw: { compact_tools_enabled: false }
        upstreams:
          t: { command: "{{Repo.TestUpstream}}" }
          p: { command: "{{Repo.TestUpstream}}", args: [--flood-stderr, "200"], mode: per_call }
        """;

    private static async Task<int> RunAsync(string command, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(command, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await process.WaitForExitAsync().WaitAsync(Wait.Timeout);
        return process.ExitCode;
    }

    private static async Task<string> EchoAsync(McpClient client, string upstream, string message) =>
        await BrokerEnvironment.CallTextAsync(client, $"{upstream}.echo", new() { ["message"] = message });

    private static async Task<long> DroppedAsync(BrokerEnvironment env)
    {
        var status = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.True(status.ExitCode == 0, status.Stdout + status.Stderr);
        return JsonNode.Parse(status.Stdout)!["daemon"]!["log_lines_dropped"]!.GetValue<long>();
    }

    /// <summary>Writes zeros until the file system says it is full.</summary>
    private static void FillUp(string path)
    {
        using var file = File.Create(path);
        var block = new byte[64 * 1024];
        try
        {
            while (true)
            {
                file.Write(block);
                file.Flush();
            }
        }
        catch (IOException)
        {
            // Full: what the test wanted.
        }
    }

    [MountFact]
    public async Task ARootThatFillsUpThenTurnsReadOnly_DaemonKeepsAnswering_AndCountsTheLogLinesItDropped()
    {
        var env = await BrokerEnvironment.CreateAsync(Config);
        var mounted = false;
        var readOnly = false;
        try
        {
            Assert.Equal(0, await RunAsync("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", env.Root));
            mounted = true;
            await File.WriteAllTextAsync(env.ConfigPath, Config(env.Root));
            var client = await env.ConnectAsync("raw");
            Assert.Equal("echo: before", await EchoAsync(client, "t", "before"));
            var daemon = env.DaemonPid!.Value;

            FillUp(Path.Combine(env.Root, "filler"));
            var droppedBefore = await DroppedAsync(env);
            for (var i = 0; i < 3; i++)
            {
                // A fresh process per call: its record cannot be written, nor its 200 stderr lines.
                Assert.Equal($"echo: full {i}", await EchoAsync(client, "p", $"full {i}"));
            }

            Assert.Equal("echo: full", await EchoAsync(client, "t", "full"));
            Assert.True(await DroppedAsync(env) > droppedBefore, "the stderr lines that could not be written are counted");
            Assert.DoesNotContain(Directory.EnumerateFiles(Path.Combine(env.Root, "run"), "*.json", SearchOption.AllDirectories), f => new FileInfo(f).Length == 0);

            // Read-only from here on for every file opened anew (a read-only bind mount over the root: remounting the
            // tmpfs itself is refused while the daemon holds files open for writing).
            File.Delete(Path.Combine(env.Root, "filler"));
            Assert.Equal(0, await RunAsync("mount", "--bind", env.Root, env.Root));
            readOnly = true;
            Assert.Equal(0, await RunAsync("mount", "-o", "remount,bind,ro", env.Root));
            var droppedReadOnly = await DroppedAsync(env);
            Assert.Equal("echo: read-only", await EchoAsync(client, "p", "read-only"));
            Assert.Equal("echo: read-only", await EchoAsync(client, "t", "read-only"));
            Assert.True(await DroppedAsync(env) > droppedReadOnly);
            Assert.True(Processes.Alive(daemon));

            Assert.Equal(0, await RunAsync("umount", env.Root));
            readOnly = false;
            await env.StopDaemonAndAssertNothingLeftAsync();
        }
        finally
        {
            if (readOnly)
            {
                await RunAsync("umount", env.Root);
            }

            if (mounted)
            {
                await env.StopDaemonAndAssertNothingLeftAsync().ContinueWith(_ => { }, TaskScheduler.Default);
                await RunAsync("umount", "-l", env.Root);
            }

            await env.DisposeAsync();
        }
    }
}
