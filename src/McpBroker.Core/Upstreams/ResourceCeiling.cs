using System.Globalization;
using McpBroker.Config;

namespace McpBroker.Upstreams;

/// <summary>What an upstream's processes use: resident memory summed, CPU in percent of one core since the last sample.</summary>
internal readonly record struct ResourceUsage(long MemoryBytes, double? CpuPercent);

/// <summary>
/// An upstream's memory and CPU ceilings (<c>limits</c>), watched from /proc over everything it runs — its process,
/// their descendants and what left its group (<see cref="ProcessTree"/>). Usage that stays over a ceiling for
/// <c>over</c> restarts it, once its calls in flight have ended (or after the call timeout, when they time out).
/// <para>Why /proc and not cgroup v2: a memory.max / cpu.max needs a cgroup delegated to the user (systemd
/// <c>Delegate=yes</c>, a controller enabled in the parent's subtree_control); where the daemon runs as a plain process
/// it has none, and the kernel would kill at the ceiling rather than let calls in flight finish.</para>
/// </summary>
internal sealed class ResourceCeiling(ResourceLimits limits, TimeProvider time)
{
    /// <summary>USER_HZ, the unit of utime/stime in /proc/PID/stat: 100 on every Linux architecture the broker runs on.</summary>
    private const double ClockTicksPerSecond = 100;

    private Dictionary<int, (long Start, long Cpu)> _cpu = [];
    private long _sampledAt;
    private DateTimeOffset? _overSince;

    /// <summary>
    /// Watches one instance until <paramref name="ended"/>: samples every quarter of <c>over</c> (100 ms to 5 s), reports
    /// usage to <paramref name="observed"/> (null, null at the end), and once a ceiling was breached for <c>over</c> waits
    /// until nothing is in flight (at most <paramref name="drainLimit"/>) and calls <paramref name="restart"/> with why.
    /// Nothing to do without limits or without a process (Linux only).
    /// </summary>
    public static async Task WatchAsync(ResourceLimits? limits, TimeProvider time, int? pid, string? marker, Func<int> inFlight, TimeSpan drainLimit,
        Func<string, Task> restart, Action<long?, double?> observed, CancellationToken ended)
    {
        if (limits is null || pid is not { } leader || !OperatingSystem.IsLinux())
        {
            return;
        }

        var ceiling = new ResourceCeiling(limits, time);
        var period = TimeSpan.FromTicks(Math.Clamp(limits.Over.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond * 5));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            string? breach = null;
            while (breach is null && await timer.WaitForNextTickAsync(ended))
            {
                var usage = ceiling.Sample(leader, marker);
                observed(usage.MemoryBytes, usage.CpuPercent);
                breach = ceiling.Judge(usage);
            }

            var drainUntil = time.GetUtcNow() + drainLimit;
            while (inFlight() > 0 && time.GetUtcNow() < drainUntil && await timer.WaitForNextTickAsync(ended))
            {
            }

            await restart(breach!);
        }
        catch (OperationCanceledException)
        {
            // The instance ended first.
        }
        finally
        {
            observed(null, null);
        }
    }

    /// <summary>
    /// An upstream's ceilings, what its instances use now (summed; sampled only while limits are set) and the last
    /// restart a ceiling caused, with why.
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject Status(ResourceLimits limits, IReadOnlyCollection<UpstreamState> states) => new()
    {
        ["memory_bytes"] = limits.MemoryBytes,
        ["cpu_percent"] = limits.CpuPercent,
        ["over_seconds"] = limits.Over.TotalSeconds,
        ["memory_used_bytes"] = states.Any(s => s.MemoryBytes is not null) ? states.Sum(s => s.MemoryBytes ?? 0) : null,
        ["cpu_used_percent"] = states.Any(s => s.CpuPercent is not null) ? Math.Round(states.Sum(s => s.CpuPercent ?? 0), 1) : null,
        ["last_restart"] = states.Select(s => s.CeilingRestart).LastOrDefault(r => r is not null),
    };

    /// <summary>Reads the usage of the process <paramref name="pid"/>, its descendants and the processes carrying <paramref name="marker"/>.</summary>
    public ResourceUsage Sample(int pid, string? marker)
    {
        long memory = 0;
        var cpu = new Dictionary<int, (long Start, long Cpu)>();
        foreach (var process in ProcessTree.Find(marker, pid).Append(new ProcEntry(pid, 0, 0, 'R')).DistinctBy(p => p.Pid))
        {
            if (Read(process.Pid) is { } read)
            {
                memory += read.Resident;
                cpu[process.Pid] = (read.Start, read.Cpu);
            }
        }

        var now = time.GetTimestamp();
        double? percent = null;
        if (_sampledAt != 0 && time.GetElapsedTime(_sampledAt, now).TotalSeconds is var seconds and > 0)
        {
            // Only processes seen at both samples count: one that ended took its CPU time with it.
            var ticks = cpu.Sum(p => _cpu.TryGetValue(p.Key, out var before) && before.Start == p.Value.Start ? Math.Max(0, p.Value.Cpu - before.Cpu) : 0);
            percent = ticks / ClockTicksPerSecond / seconds * 100;
        }

        _cpu = cpu;
        _sampledAt = now;
        return new ResourceUsage(memory, percent);
    }

    /// <summary>Why the upstream must restart, once usage has stayed over a ceiling for <c>over</c>; null until then.</summary>
    public string? Judge(ResourceUsage usage)
    {
        var now = time.GetUtcNow();
        if (Breach(usage) is not { } breach)
        {
            _overSince = null;
            return null;
        }

        _overSince ??= now;
        return now - _overSince >= limits.Over ? $"{breach} for {new Duration(limits.Over)}" : null;
    }

    private string? Breach(ResourceUsage usage) =>
        limits.MemoryBytes is { } memory && usage.MemoryBytes > memory
            ? $"its memory ({ResourceLimits.FormatSize(usage.MemoryBytes)}) stayed over limits.memory ({ResourceLimits.FormatSize(memory)})"
            : limits.CpuPercent is { } cpu && usage.CpuPercent > cpu
                ? $"its CPU ({usage.CpuPercent:0}% of a core) stayed over limits.cpu_percent ({cpu}%)"
                : null;

    /// <summary>Resident bytes (/proc/PID/statm), start time and utime + stime (/proc/PID/stat); null for a process gone meanwhile.</summary>
    private static (long Resident, long Start, long Cpu)? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var statm = File.ReadAllText($"/proc/{pid}/statm").Split(' ');
            return (long.Parse(statm[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize,
                long.Parse(fields[19], CultureInfo.InvariantCulture),
                long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
