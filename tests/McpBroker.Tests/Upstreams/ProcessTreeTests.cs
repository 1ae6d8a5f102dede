using System.Diagnostics;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// Finding and stopping what escaped an upstream's process group (a double fork and setsid), over real processes:
/// by the marker variable in /proc/PID/environ, by ancestry, and by the reaper from a record's marker.
/// </summary>
public sealed class ProcessTreeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-tree-").FullName;
    private readonly List<int> _escaped = [];

    public void Dispose()
    {
        foreach (var pid in _escaped.Where(Processes.Alive))
        {
            Processes.Kill(pid, 9);
        }

        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>
    /// Starts <paramref name="script"/> in a process that leaves this one's session and group (setsid --fork, so its
    /// parent exits at once and it is re-parented), with the marker variable set; returns its pid once it is ready.
    /// </summary>
    private async Task<ProcEntry> EscapeAsync(string? marker, string script = "exec sleep 600")
    {
        var file = Path.Combine(_dir, Guid.NewGuid().ToString("n"));
        const string ready = "echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"";
        var body = script.Contains("READY", StringComparison.Ordinal) ? script.Replace("READY", ready, StringComparison.Ordinal) : $"{ready} && {script}";
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var arg in new[] { "--fork", "/bin/sh", "-c", body, file })
        {
            start.ArgumentList.Add(arg);
        }

        if (marker is not null)
        {
            start.Environment[ProcessTree.MarkerVariable] = marker;
        }

        using (var setsid = Process.Start(start)!)
        {
            await setsid.WaitForExitAsync();
        }

        await Wait.UntilAsync(() => File.Exists(file), "the escaped process to write its pid");
        var pid = int.Parse(File.ReadAllText(file).Trim());
        _escaped.Add(pid);
        return ProcessTree.Snapshot().Single(p => p.Pid == pid);
    }

    [LinuxFact]
    public async Task Find_AMarkedProcessOutsideTheGroup_IsFound_AndOneWithAnotherMarkerIsNot()
    {
        var marker = ProcessTree.NewMarker();
        var ours = await EscapeAsync(marker);
        var theirs = await EscapeAsync(ProcessTree.NewMarker());

        var found = ProcessTree.Find(marker);

        Assert.Contains(found, p => p.Pid == ours.Pid);
        Assert.DoesNotContain(found, p => p.Pid == theirs.Pid);
        Assert.Empty(ProcessTree.Find(null));
    }

    [LinuxFact]
    public async Task Find_TheChildOfAMarkedProcessThatClearedItsEnvironment_IsFoundByAncestry()
    {
        var marker = ProcessTree.NewMarker();
        var childFile = Path.Combine(_dir, "child");
        var parent = await EscapeAsync(marker, $"env -i /bin/sh -c 'echo $$ > {childFile}.tmp && mv {childFile}.tmp {childFile} && exec sleep 600' & READY && wait");
        await Wait.UntilAsync(() => File.Exists(childFile), "the child to write its pid");
        var child = int.Parse(File.ReadAllText(childFile).Trim());
        _escaped.Add(child);

        var found = ProcessTree.Find(marker);

        Assert.Contains(found, p => p.Pid == parent.Pid);
        Assert.Contains(found, p => p.Pid == child);
        Assert.Contains(ProcessTree.Find(null, root: parent.Pid), p => p.Pid == child);
    }

    [LinuxFact]
    public async Task Stop_AProcessThatIgnoresSigterm_IsKilled()
    {
        var stubborn = await EscapeAsync(ProcessTree.NewMarker(), "trap '' TERM; READY; while :; do sleep 0.1; done");

        var stopped = await ProcessTree.StopAsync([stubborn, stubborn], TimeSpan.FromMilliseconds(300));

        Assert.Equal(1, stopped);
        await Wait.UntilAsync(() => !Processes.Alive(stubborn.Pid), "the stubborn process to die");
    }

    [LinuxFact]
    public async Task Stop_APidThatNowNamesAnotherProcess_IsLeftAlone()
    {
        var other = await EscapeAsync(null);

        var stopped = await ProcessTree.StopAsync([other with { StartTicks = other.StartTicks + 1 }], TimeSpan.FromMilliseconds(300));

        Assert.Equal(0, stopped);
        Assert.True(Processes.Alive(other.Pid));
    }

    [LinuxFact]
    public void Adopted_AndZombies_AreNoneWhenThisProcessIsNoSubreaper()
    {
        Assert.False(ProcessTree.Subreaper);
        Assert.Empty(ProcessTree.Adopted());
        Assert.Equal(0, ProcessTree.CollectZombies());
    }

    [LinuxFact]
    public async Task Reap_ARecordWithAMarker_StopsTheDescendantThatLeftTheGroup_AfterItsLeaderIsGone()
    {
        var marker = ProcessTree.NewMarker();
        var escaped = await EscapeAsync(marker);
        using var leader = Process.Start("true")!;
        await leader.WaitForExitAsync();
        var dir = Path.Combine(_dir, "run", "upstreams");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"{leader.Id}.json"), new JsonObject
        {
            ["upstream"] = "u",
            ["pid"] = leader.Id,
            ["pgid"] = leader.Id,
            ["start_ticks"] = 1,
            ["owner_pid"] = Environment.ProcessId,
            ["owner_start_ticks"] = 1,
            ["marker"] = marker,
        }.ToJsonString());

        var result = Assert.Single(await new ProcessRecords(Path.Combine(_dir, "run")).ReapOrphansAsync());

        Assert.Equal("already gone; 1 process(es) that had left its process group stopped too", result.Outcome);
        await Wait.UntilAsync(() => !Processes.Alive(escaped.Pid), "the escaped process to be gone");
    }
}
