namespace McpBroker.Tests.Support;

/// <summary>
/// A live process of this machine, read from /proc. <see cref="StartTime"/> (clock ticks after boot) tells a process
/// from a later one that got its pid: with pid_max at 32768 and many processes per test run, pids are reused.
/// </summary>
internal sealed record ProcessInfo(int Pid, int ParentPid, int GroupId, long StartTime, string CommandLine)
{
    /// <summary>This very process (same pid and start time) still runs.</summary>
    public bool StillRuns() => Processes.All().Any(p => p.Pid == Pid && p.StartTime == StartTime);
}

internal static partial class Processes
{
    /// <summary>Linux's SIGSTOP and SIGCONT (the same on x64 and arm64): a stopped process reads and answers nothing until continued.</summary>
    public const int SIGSTOP = 19;
    public const int SIGCONT = 18;

    /// <summary>Sends a signal (15 SIGTERM, 9 SIGKILL); 0 when it was delivered.</summary>
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    public static partial int Kill(int pid, int signal);

    public static IReadOnlyList<ProcessInfo> All()
    {
        var list = new List<ProcessInfo>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var afterName = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (afterName[0] == "Z")
                {
                    continue;
                }

                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                list.Add(new ProcessInfo(pid, int.Parse(afterName[1]), int.Parse(afterName[2]), long.Parse(afterName[19]), cmdline));
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return list;
    }

    public static bool Alive(int pid) => All().Any(p => p.Pid == pid);

    /// <summary>The process is stopped by a signal (state T in /proc/PID/stat).</summary>
    public static bool Stopped(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] == 'T';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static ProcessInfo? Get(int pid) => All().FirstOrDefault(p => p.Pid == pid);

    /// <summary>Every process below <paramref name="pid"/> in the process tree.</summary>
    public static IReadOnlyList<ProcessInfo> Descendants(int pid)
    {
        var all = All();
        var result = new List<ProcessInfo>();
        var frontier = new Queue<int>([pid]);
        while (frontier.TryDequeue(out var parent))
        {
            foreach (var child in all.Where(p => p.ParentPid == parent))
            {
                result.Add(child);
                frontier.Enqueue(child.Pid);
            }
        }

        return result;
    }

    /// <summary>Processes whose command line mentions <paramref name="fragment"/> (e.g. a runtime root or a server name).</summary>
    public static IReadOnlyList<ProcessInfo> Matching(string fragment) =>
        All().Where(p => p.CommandLine.Contains(fragment, StringComparison.Ordinal) && p.Pid != Environment.ProcessId).ToList();
}
