using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using McpBroker.Platform;

namespace McpBroker.Upstreams;

/// <summary>What is on disk about one upstream process the broker started.</summary>
/// <param name="Marker">The value of the upstream's marker variable (<see cref="ProcessTree.MarkerVariable"/>), which finds its
/// descendants that left its process group; null in records of older daemons.</param>
public sealed record ProcessRecord(string Upstream, int Pid, int Pgid, long? StartTicks, int OwnerPid, long? OwnerStartTicks, string? Marker = null);

/// <summary>One orphan found by the reaper, and what was done about it.</summary>
public sealed record ReapResult(ProcessRecord Record, string Outcome);

/// <summary>
/// Records every started upstream process under <c>run/upstreams/</c> (pid, process group, start time, owning daemon),
/// so a daemon that died without stopping its upstreams leaves enough behind for the next one to stop them. The start
/// time guards against killing a process that merely reuses a recorded pid.
/// </summary>
public sealed class ProcessRecords(string runDir)
{
    private static readonly TimeSpan s_grace = TimeSpan.FromSeconds(2);
    private readonly string _dir = Path.Combine(runDir, "upstreams");

    public void Add(string upstream, int pid, bool ownGroup, string? marker = null)
    {
        PrivateFiles.CreateDirectory(_dir);
        var record = new ProcessRecord(upstream, pid, ownGroup ? pid : 0, ProcStat.StartTicks(pid), Environment.ProcessId, ProcStat.StartTicks(Environment.ProcessId), marker);
        // Written whole or not at all: a full disk must not leave a 0-byte record behind (the reaper would skip it).
        PrivateFiles.WriteAtomic(PathOf(pid), JsonSerializer.SerializeToUtf8Bytes(record, RecordsJsonContext.Default.ProcessRecord));
    }

    /// <summary>
    /// <see cref="Add"/>, for a daemon that must go on when its root is full or read-only: the upstream still runs, only
    /// a kill -9 of the daemon would leave it for nobody to reap; <paramref name="failed"/> hears why.
    /// </summary>
    public void TryAdd(string upstream, int pid, bool ownGroup, string? marker, Action<string> failed)
    {
        try
        {
            Add(upstream, pid, ownGroup, marker);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            failed(ex.Message);
        }
    }

    /// <summary>Removes a record; one that cannot be removed (a read-only root) is left for the reaper, which finds its process gone.</summary>
    public void Remove(int pid)
    {
        try
        {
            File.Delete(PathOf(pid));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    public IReadOnlyList<ProcessRecord> Read()
    {
        if (!Directory.Exists(_dir))
        {
            return [];
        }

        var records = new List<ProcessRecord>();
        foreach (var file in Directory.EnumerateFiles(_dir, "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), RecordsJsonContext.Default.ProcessRecord) is { } record)
                {
                    records.Add(record);
                }
            }
            catch (Exception ex) when (ex is JsonException or IOException)
            {
                File.Delete(file);
            }
        }

        return records;
    }

    /// <summary>True while the daemon that wrote the record is alive (same pid and start time).</summary>
    public static bool OwnerAlive(ProcessRecord record) =>
        Native.ProcessAlive(record.OwnerPid) && (record.OwnerStartTicks is null || ProcStat.StartTicks(record.OwnerPid) == record.OwnerStartTicks);

    /// <summary>
    /// Stops the process groups of every record whose daemon is dead and removes those records. Cancelling stops
    /// before the next record, never between a record's SIGTERM and SIGKILL: what is left stays recorded for the next reap.
    /// </summary>
    public async Task<IReadOnlyList<ReapResult>> ReapOrphansAsync(CancellationToken cancellationToken = default)
    {
        var results = new List<ReapResult>();
        foreach (var record in Read().Where(r => !OwnerAlive(r)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            results.Add(new ReapResult(record, await StopAsync(record)));
            Remove(record.Pid);
        }

        return results;
    }

    /// <summary>Stops the record's group, then what had left it (found by the marker, looked for before and after).</summary>
    private static async Task<string> StopAsync(ProcessRecord record)
    {
        var escaped = ProcessTree.Find(record.Marker);
        var outcome = await StopGroupAsync(record);
        var strays = await ProcessTree.StopAsync([.. escaped, .. ProcessTree.Find(record.Marker)], s_grace);
        return strays == 0 ? outcome : $"{outcome}; {strays} process(es) that had left its process group stopped too";
    }

    private static async Task<string> StopGroupAsync(ProcessRecord record)
    {
        var leaderIsOurs = Native.ProcessAlive(record.Pid) && (record.StartTicks is null || ProcStat.StartTicks(record.Pid) == record.StartTicks);

        // A process group outlives its leader only while members remain, and its id is not reused meanwhile.
        var groupAlive = record.Pgid > 0 && Native.GroupAlive(record.Pgid);
        if (!leaderIsOurs && !groupAlive)
        {
            return "already gone";
        }

        Signal(record, Native.SIGTERM, leaderIsOurs);
        if (!await GoneWithin(record, s_grace))
        {
            Signal(record, Native.SIGKILL, leaderIsOurs);
            if (!await GoneWithin(record, s_grace))
            {
                return "still running after SIGKILL";
            }

            return "killed (SIGKILL)";
        }

        return "stopped (SIGTERM)";
    }

    private static void Signal(ProcessRecord record, int signal, bool leaderIsOurs)
    {
        if (record.Pgid > 0)
        {
            Native.SignalGroup(record.Pgid, signal);
        }
        else if (leaderIsOurs)
        {
            Native.Signal(record.Pid, signal);
        }
    }

    private static async Task<bool> GoneWithin(ProcessRecord record, TimeSpan limit)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        var deadline = DateTime.UtcNow + limit;
        do
        {
            var alive = record.Pgid > 0 ? Native.GroupAlive(record.Pgid) : Native.ProcessAlive(record.Pid) && ProcStat.StartTicks(record.Pid) == record.StartTicks;
            if (!alive)
            {
                return true;
            }
        }
        while (DateTime.UtcNow < deadline && await timer.WaitForNextTickAsync());

        return false;
    }

    private string PathOf(int pid) => Path.Combine(_dir, pid.ToString(CultureInfo.InvariantCulture) + ".json");
}

/// <summary>A process's start time in clock ticks since boot (Linux /proc); null where it cannot be read.</summary>
internal static class ProcStat
{
    public static long? StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ProcessRecord))]
internal sealed partial class RecordsJsonContext : JsonSerializerContext;
