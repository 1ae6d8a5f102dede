using McpBroker.Auth;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Platform;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

/// <summary>
/// Checks what usually goes wrong and says how to fix it: the config, the daemon and its socket, stale files, orphaned
/// upstream processes, upstream commands that cannot be found. It changes nothing.
/// </summary>
internal static class DoctorCommand
{
    public static async Task<int> RunAsync(string? configOption)
    {
        var problems = 0;
        void Ok(string text) => Console.WriteLine($"ok       {text}");
        void Problem(string text, string fix)
        {
            problems++;
            Console.WriteLine($"PROBLEM  {text}\n         fix: {fix}");
        }

        var load = ConfigLoader.LoadFile(ConfigLoader.ResolvePath(configOption));
        if (load.Model is not { } model)
        {
            Problem($"config {load.Path} is invalid ({load.Errors.Count()} error(s))", $"run 'mcp-broker config validate --config {load.Path}' and fix what it lists");
            return 1;
        }

        Ok($"config {model.SourcePath}: {model.Upstreams.Count} upstream(s), {model.Profiles.Count} profile(s)");
        foreach (var warning in load.Warnings)
        {
            Problem($"config warning: {warning.Path}: {warning.Message}", "see the warning");
        }

        var runtime = model.Runtime;
        var answer = await DaemonClient.ControlAsync(runtime.SocketPath, "ping", TimeSpan.FromSeconds(2));
        if (answer is { Ok: true })
        {
            Ok($"daemon running (pid {answer.DaemonPid}) on {runtime.SocketPath}");
        }
        else
        {
            Ok($"no daemon running for {runtime.Root} (the first client starts one)");
            if (File.Exists(runtime.SocketPath))
            {
                Problem($"stale socket {runtime.SocketPath}", "harmless (the next daemon removes it); or delete it");
            }

            if (DaemonHost.ReadPid(runtime.PidPath) is { } pid)
            {
                Problem($"stale pid file {runtime.PidPath} (pid {pid}{(Native.ProcessAlive(pid) ? ", a process with that pid runs but does not answer" : ", not running")})",
                    Native.ProcessAlive(pid) ? $"check 'ps -p {pid}'; 'kill {pid}' if it is a hung broker" : "harmless (the next daemon rewrites it); or delete it");
            }
        }

        foreach (var record in new ProcessRecords(runtime.RunDir).Read().Where(r => !ProcessRecords.OwnerAlive(r)))
        {
            var alive = Native.ProcessAlive(record.Pid);
            Problem($"upstream {record.Upstream}: pid {record.Pid} was started by daemon {record.OwnerPid}, which is gone{(alive ? "; the process still runs" : "")}",
                "run 'mcp-broker daemon reap' (a daemon start does it too)");
        }

        var now = DateTimeOffset.UtcNow;
        foreach (var upstream in model.Upstreams.Where(u => u.Mode != UpstreamMode.Disabled))
        {
            if (upstream.Remote is null && !CommandExists(upstream.Command))
            {
                Problem($"upstream {upstream.Name}: command '{upstream.Command}' is not found", $"install it or fix upstreams.{upstream.Name}.command (an absolute path always works)");
            }

            // The same passive probe as 'auth status' and broker.status: variables, secret files, OAuth tokens.
            var probe = AuthProbe.Of(upstream, Environment.GetEnvironmentVariable, now);
            foreach (var missing in probe.Missing)
            {
                Problem($"upstream {upstream.Name}: {missing}", missing.Contains("run", StringComparison.Ordinal)
                    ? "as the line says"
                    : "set the variable in the daemon's environment (a service unit, or the shell that starts clients), or create the file with the secret and 'chmod 600' it");
            }

            if (probe.State == AuthProbe.OAuthRefreshExpired)
            {
                Problem($"upstream {upstream.Name}: {probe.Detail}", $"mcp-broker auth login {upstream.Name}");
            }
        }

        Console.WriteLine(problems == 0 ? "no problems found" : $"{problems} problem(s) found");
        return problems == 0 ? 0 : 1;
    }

    private static bool CommandExists(string command) =>
        command.Contains('/')
            ? File.Exists(command)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, command)));
}
