using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>A process record is on disk whole or not at all.</summary>
public sealed class ProcessRecordWriteTests
{
    [Fact]
    public void Add_ThatCannotBeCompleted_LeavesNoPartialFile_AndSaysWhy()
    {
        var run = Directory.CreateTempSubdirectory("mb-records-").FullName;
        var records = new ProcessRecords(run);
        var pid = Environment.ProcessId;

        // The record's place is taken by a folder: the write of the whole record cannot be moved there.
        Directory.CreateDirectory(Path.Combine(run, "upstreams", $"{pid}.json"));
        Assert.ThrowsAny<IOException>(() => records.Add("u", pid, ownGroup: false));

        Assert.Equal([$"{pid}.json"], Directory.GetFileSystemEntries(Path.Combine(run, "upstreams")).Select(Path.GetFileName));
        Assert.Empty(records.Read());
    }

    [Fact]
    public void TryAdd_ThatCannotBeWritten_SaysWhyInsteadOfThrowing_AndRemoveOfItIsQuiet()
    {
        var run = Directory.CreateTempSubdirectory("mb-records-").FullName;
        var records = new ProcessRecords(run);
        var pid = Environment.ProcessId;
        Directory.CreateDirectory(Path.Combine(run, "upstreams", $"{pid}.json", "occupied"));
        var why = new List<string>();

        records.TryAdd("u", pid, ownGroup: false, marker: null, why.Add);
        records.Remove(pid); // a folder in its place: nothing it could remove, nothing thrown

        Assert.Single(why);
        Assert.Empty(records.Read());
        Directory.Delete(Path.Combine(run, "upstreams", $"{pid}.json"), recursive: true);
        records.TryAdd("u", pid, ownGroup: false, marker: "m", why.Add);
        Assert.Single(why);
        Assert.Equal("m", Assert.Single(records.Read()).Marker);
        Directory.Delete(run, recursive: true);
    }
}
