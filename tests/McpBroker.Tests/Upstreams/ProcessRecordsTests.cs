using System.Diagnostics;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// The reaper over real processes: what a dead daemon left is stopped (politely, then by force), what a live daemon
/// owns and what merely reuses a recorded pid are left alone, and a record that cannot be read is dropped.
/// </summary>
public sealed class ProcessRecordsTests : IDisposable
{
    private readonly string _run = Directory.CreateTempSubdirectory("mb-records-").FullName;
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        foreach (var process in _started)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            process.Dispose();
        }

        Directory.Delete(_run, recursive: true);
    }

    /// <summary>Starts <paramref name="script"/> under sh and returns once it printed 'ready' (its traps are set by then).</summary>
    private Process Start(string script, bool ownGroup)
    {
        var start = new ProcessStartInfo(ownGroup ? "setsid" : "sh") { RedirectStandardOutput = true };
        foreach (var arg in (string[])(ownGroup ? ["sh", "-c", script] : ["-c", script]))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        _started.Add(process);
        Assert.Equal("ready", process.StandardOutput.ReadLine());
        return process;
    }

    /// <summary>A record as a daemon that has since died would have left it: its owner's start time is not this process's.</summary>
    private void RecordOrphan(int pid, int pgid, long? startTicks)
    {
        var dir = Path.Combine(_run, "upstreams");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"{pid}.json"), new JsonObject
        {
            ["upstream"] = "u",
            ["pid"] = pid,
            ["pgid"] = pgid,
            ["start_ticks"] = startTicks,
            ["owner_pid"] = Environment.ProcessId,
            ["owner_start_ticks"] = 1,
        }.ToJsonString());
    }

    [Fact]
    public async Task Reap_AnOrphanGroupThatIgnoresSigterm_IsKilled()
    {
        var process = Start("trap '' TERM; echo ready; while :; do sleep 0.1; done", ownGroup: true);
        RecordOrphan(process.Id, process.Id, ProcStat.StartTicks(process.Id));

        var result = Assert.Single(await new ProcessRecords(_run).ReapOrphansAsync());

        Assert.Equal("killed (SIGKILL)", result.Outcome);
        Assert.Equal(process.Id, result.Record.Pid);
        await process.WaitForExitAsync();
        Assert.Empty(new ProcessRecords(_run).Read());
    }

    [Fact]
    public async Task Reap_AnOrphanOutsideItsOwnGroup_IsStoppedBySigtermToItsPid()
    {
        var process = Start("echo ready; exec sleep 600", ownGroup: false);
        RecordOrphan(process.Id, 0, ProcStat.StartTicks(process.Id));

        var result = Assert.Single(await new ProcessRecords(_run).ReapOrphansAsync());

        Assert.Equal("stopped (SIGTERM)", result.Outcome);
        await process.WaitForExitAsync();
        Assert.Equal(128 + 15, process.ExitCode);
    }

    [Fact]
    public async Task Reap_ARecordWhosePidNowBelongsToAnotherProcess_LeavesThatProcessAlone()
    {
        var process = Start("echo ready; exec sleep 600", ownGroup: false);
        RecordOrphan(process.Id, 0, ProcStat.StartTicks(process.Id) + 1);

        var result = Assert.Single(await new ProcessRecords(_run).ReapOrphansAsync());

        Assert.Equal("already gone", result.Outcome);
        Assert.False(process.HasExited);
        Assert.Empty(new ProcessRecords(_run).Read());
    }

    [Fact]
    public async Task Reap_ProcessesALiveDaemonOwns_AreNotTouched()
    {
        var process = Start("echo ready; exec sleep 600", ownGroup: false);
        var records = new ProcessRecords(_run);
        records.Add("u", process.Id, ownGroup: false);

        Assert.Empty(await records.ReapOrphansAsync());

        Assert.False(process.HasExited);
        var record = Assert.Single(records.Read());
        Assert.Equal(("u", process.Id, 0, Environment.ProcessId), (record.Upstream, record.Pid, record.Pgid, record.OwnerPid));
        records.Remove(process.Id);
        Assert.Empty(records.Read());
    }

    [Fact]
    public void Read_ARecordThatIsNotJson_IsDroppedAndTheOthersRead()
    {
        var records = new ProcessRecords(_run);
        records.Add("u", Environment.ProcessId, ownGroup: true);
        var garbage = Path.Combine(_run, "upstreams", "12345.json");
        File.WriteAllText(garbage, "{ not json");

        var record = Assert.Single(records.Read());

        Assert.Equal(Environment.ProcessId, record.Pgid);
        Assert.False(File.Exists(garbage));
    }

    [Fact]
    public void Read_NoRecordsYet_IsEmpty() => Assert.Empty(new ProcessRecords(Path.Combine(_run, "never-made")).Read());

    [Fact]
    public void StartTicks_OfNoProcess_IsNull() => Assert.Null(ProcStat.StartTicks(int.MaxValue));

    [Fact]
    public async Task Reap_ARecordWithoutStartTimes_GoesByPidAlone()
    {
        // Where /proc gives no start time the record holds none: the owner counts as alive while its pid is.
        var owned = Start("echo ready; exec sleep 600", ownGroup: false);
        var orphan = Start("echo ready; exec sleep 600", ownGroup: false);
        var dir = Path.Combine(_run, "upstreams");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"{owned.Id}.json"),
            $$"""{"upstream":"u","pid":{{owned.Id}},"pgid":0,"start_ticks":null,"owner_pid":{{Environment.ProcessId}},"owner_start_ticks":null}""");
        File.WriteAllText(Path.Combine(dir, $"{orphan.Id}.json"),
            $$"""{"upstream":"u","pid":{{orphan.Id}},"pgid":0,"start_ticks":null,"owner_pid":{{int.MaxValue}},"owner_start_ticks":null}""");

        var result = Assert.Single(await new ProcessRecords(_run).ReapOrphansAsync());

        Assert.Equal((orphan.Id, "stopped (SIGTERM)"), (result.Record.Pid, result.Outcome));
        await orphan.WaitForExitAsync();
        Assert.False(owned.HasExited);
        Assert.Equal(owned.Id, Assert.Single(new ProcessRecords(_run).Read()).Pid);
    }
}
