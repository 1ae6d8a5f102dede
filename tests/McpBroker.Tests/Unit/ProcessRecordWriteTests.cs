using McpBroker.Upstreams;

namespace McpBroker.Tests.Unit;

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
}
