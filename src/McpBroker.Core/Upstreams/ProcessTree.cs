using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using McpBroker.Platform;

namespace McpBroker.Upstreams;

/// <summary>A process seen in /proc: its pid, parent, start time (so a reused pid is never taken for it) and state.</summary>
internal readonly record struct ProcEntry(int Pid, int ParentPid, long StartTicks, char State)
{
    public bool Zombie => State is 'Z' or 'X';
}

/// <summary>
/// Finds and stops everything an upstream started, including what escaped its process group: a server that
/// double-forks and calls setsid leaves a process in a session and group of its own, re-parented to init (or to the
/// daemon, a child subreaper). Two things tie such a process to its upstream (Linux, /proc):
/// <list type="bullet">
/// <item>a marker variable, <see cref="MarkerVariable"/>, set to a random value in the upstream's environment; every
/// descendant inherits it unless it clears its environment, and a process of the same user shows its environment in
/// /proc/PID/environ — found at stop and, from the value in the process record, by the reaper after a kill -9;</item>
/// <item>ancestry: the descendants of the upstream's process and of every marked process (so a child that cleared its
/// environment is still found while its parent lives), and, with the daemon a child subreaper, every process the
/// daemon adopted, stopped when the daemon stops.</item>
/// </list>
/// </summary>
internal static class ProcessTree
{
    public const string MarkerVariable = "MCP_BROKER_UPSTREAM_ID";

    private static readonly ConcurrentDictionary<int, byte> s_leaders = new();
    private static readonly Lock s_spawn = new();

    /// <summary>
    /// A fresh marker value: random (122 bits), so a process carrying it is certainly one of ours. A Guid, because
    /// RandomNumberGenerator would load OpenSSL into the daemon (which stays out of it: docs/benchmarks.md).
    /// </summary>
    public static string NewMarker() => Guid.NewGuid().ToString("N");

    /// <summary>True once the daemon made itself a child subreaper (<see cref="BecomeSubreaper"/>).</summary>
    public static bool Subreaper { get; private set; }

    /// <summary>Linux: orphaned descendants of upstreams are re-parented to this process from now on.</summary>
    public static bool BecomeSubreaper() => Subreaper = Native.BecomeChildSubreaper();

    /// <summary>
    /// Starts a child with <paramref name="start"/> and remembers its pid as one .NET waits for: the zombie collector
    /// never collects it (that would take its exit code from <see cref="System.Diagnostics.Process"/>).
    /// </summary>
    public static int Spawn(Func<int> start)
    {
        lock (s_spawn)
        {
            var pid = start();
            s_leaders[pid] = 0;
            return pid;
        }
    }

    /// <summary>The child was collected by .NET: its pid is no longer one to leave alone.</summary>
    public static void Forget(int pid) => s_leaders.TryRemove(pid, out _);

    /// <summary>Every live process carrying <paramref name="marker"/>, and every descendant of those and of <paramref name="root"/>.</summary>
    public static IReadOnlyList<ProcEntry> Find(string? marker, int? root = null)
    {
        if (!OperatingSystem.IsLinux() || (marker is null && root is null))
        {
            return [];
        }

        var all = Snapshot();
        var found = new Dictionary<int, ProcEntry>();
        if (marker is not null)
        {
            var needle = Encoding.UTF8.GetBytes($"{MarkerVariable}={marker}\0");
            foreach (var process in all.Where(p => !p.Zombie && p.Pid != Environment.ProcessId && EnvironContains(p.Pid, needle)))
            {
                found[process.Pid] = process;
            }
        }

        var frontier = new Queue<int>(found.Keys);
        if (root is { } r)
        {
            frontier.Enqueue(r);
        }

        AddDescendants(all, frontier, found);
        return [.. found.Values];
    }

    /// <summary>
    /// The processes this daemon adopted as a child subreaper (its children that it did not start) and their
    /// descendants: what upstreams left behind, environment cleared or not.
    /// </summary>
    public static IReadOnlyList<ProcEntry> Adopted()
    {
        if (!Subreaper)
        {
            return [];
        }

        var all = Snapshot();
        var found = new Dictionary<int, ProcEntry>();
        foreach (var process in all.Where(p => p.ParentPid == Environment.ProcessId && !p.Zombie && !s_leaders.ContainsKey(p.Pid)))
        {
            found[process.Pid] = process;
        }

        AddDescendants(all, new Queue<int>(found.Keys), found);
        return [.. found.Values];
    }

    /// <summary>
    /// Stops <paramref name="processes"/>: SIGTERM, up to <paramref name="grace"/> for them to go, then SIGKILL. A pid
    /// that now names another process (its start time differs) is left alone. Returns how many were still running.
    /// </summary>
    public static async Task<int> StopAsync(IEnumerable<ProcEntry> processes, TimeSpan grace)
    {
        var running = processes.DistinctBy(p => p.Pid).Where(StillRuns).ToList();
        if (running.Count == 0)
        {
            return 0;
        }

        Signal(running, Native.SIGTERM);
        if (!await GoneWithin(running, grace))
        {
            Signal(running, Native.SIGKILL);
            await GoneWithin(running, grace);
        }

        CollectZombies();
        return running.Count;
    }

    /// <summary>
    /// Collects the exit status of the adopted children that have died (a subreaper's duty: nobody else will, and each
    /// zombie holds a pid). The children .NET started are left to .NET.
    /// </summary>
    public static int CollectZombies()
    {
        if (!Subreaper)
        {
            return 0;
        }

        var collected = 0;
        lock (s_spawn)
        {
            foreach (var process in Snapshot().Where(p => p.ParentPid == Environment.ProcessId && p.Zombie && !s_leaders.ContainsKey(p.Pid)))
            {
                collected += Native.CollectChild(process.Pid) ? 1 : 0;
            }
        }

        return collected;
    }

    private static bool StillRuns(ProcEntry process) => Native.ProcessAlive(process.Pid) && ProcStat.StartTicks(process.Pid) == process.StartTicks;

    private static void Signal(IEnumerable<ProcEntry> processes, int signal)
    {
        foreach (var process in processes.Where(StillRuns))
        {
            Native.Signal(process.Pid, signal);
        }
    }

    private static async Task<bool> GoneWithin(IReadOnlyList<ProcEntry> processes, TimeSpan limit)
    {
        // Polled: a process that is not our child gives no notice of its end.
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        var deadline = DateTime.UtcNow + limit;
        do
        {
            if (!processes.Any(StillRuns))
            {
                return true;
            }
        }
        while (DateTime.UtcNow < deadline && await timer.WaitForNextTickAsync());

        return false;
    }

    private static void AddDescendants(IReadOnlyList<ProcEntry> all, Queue<int> frontier, Dictionary<int, ProcEntry> found)
    {
        var children = all.Where(p => !p.Zombie).ToLookup(p => p.ParentPid);
        while (frontier.TryDequeue(out var parent))
        {
            foreach (var child in children[parent])
            {
                if (child.Pid != Environment.ProcessId && found.TryAdd(child.Pid, child))
                {
                    frontier.Enqueue(child.Pid);
                }
            }
        }
    }

    /// <summary>Every process in /proc (those that vanish while being read are skipped).</summary>
    internal static IReadOnlyList<ProcEntry> Snapshot()
    {
        var list = new List<ProcEntry>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                list.Add(new ProcEntry(pid, int.Parse(fields[1], CultureInfo.InvariantCulture), long.Parse(fields[19], CultureInfo.InvariantCulture), fields[0][0]));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }

        return list;
    }

    private static bool EnvironContains(int pid, byte[] needle)
    {
        try
        {
            return File.ReadAllBytes($"/proc/{pid}/environ").AsSpan().IndexOf(needle) >= 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // gone, or another user's: not ours to stop either way
        }
    }
}
