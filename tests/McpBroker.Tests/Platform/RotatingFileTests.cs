using McpBroker.Daemon;
using McpBroker.Platform;

namespace McpBroker.Tests.Platform;

/// <summary>The daemon's log files when the disk is full or the folder is read-only: lines are dropped and counted, never thrown.</summary>
public sealed class RotatingFileTests
{
    [Fact]
    public void WriteLine_OnAFullDevice_DropsAndCountsTheLine_AndNeverThrows()
    {
        // /dev/full answers every write with ENOSPC, as a full disk does.
        Assert.True(File.Exists("/dev/full"), "this test needs /dev/full (Linux)");
        using var file = new RotatingFile("/dev/full", 1024 * 1024, 2);
        var before = RotatingFile.DroppedLines;

        for (var i = 0; i < 3; i++)
        {
            file.WriteLine(new string('x', 100)); // shorter than a stream buffer: the failure came when it was flushed
        }

        Assert.True(RotatingFile.DroppedLines - before >= 3, $"dropped {RotatingFile.DroppedLines - before}");
    }

    [Fact]
    public void WriteLine_InAReadOnlyFolder_DropsTheLine_AndWritesAgainOnceItCan()
    {
        var dir = Directory.CreateTempSubdirectory("mb-log-").FullName;
        var logs = Path.Combine(dir, "logs");
        Directory.CreateDirectory(logs);
        File.SetUnixFileMode(logs, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        using var file = new RotatingFile(Path.Combine(logs, "daemon.log"), 1024, 2);
        var before = RotatingFile.DroppedLines;
        var readOnly = !CanWrite(logs); // root ignores the mode: then only the second half is checked

        file.WriteLine("lost");
        File.SetUnixFileMode(logs, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        file.WriteLine("kept");

        Assert.EndsWith("kept\n", File.ReadAllText(Path.Combine(logs, "daemon.log")));
        if (readOnly)
        {
            Assert.Equal(1, RotatingFile.DroppedLines - before);
            Assert.Equal("kept\n", File.ReadAllText(Path.Combine(logs, "daemon.log")));
        }
    }

    private static bool CanWrite(string dir)
    {
        try
        {
            File.WriteAllText(Path.Combine(dir, ".probe"), "");
            File.Delete(Path.Combine(dir, ".probe"));
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
