using McpBroker.Platform;

namespace McpBroker.Tests.Platform;

/// <summary>Log files rotate by size and count, and every file is its owner's alone.</summary>
public sealed class RotatingFileRotationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-logs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void RotatingFile_RotatesBySize_KeepsTheNewestFiles_AndIsPrivate()
    {
        var path = Path.Combine(_dir, "x.log");
        using (var file = new RotatingFile(path, maxBytes: 100, keep: 2))
        {
            for (var i = 0; i < 12; i++)
            {
                file.WriteLine($"line {i:00} ....................");
            }
        }

        Assert.True(File.Exists(path + ".1"));
        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        Assert.All(new[] { path, path + ".1", path + ".2" }.Where(File.Exists), f => Assert.True(new FileInfo(f).Length <= 100 + 32));
        var all = string.Join("", new[] { path + ".2", path + ".1", path }.Where(File.Exists).Select(File.ReadAllText));
        Assert.EndsWith("line 11 ....................\n", all);
        Assert.DoesNotContain("line 00", all);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path + ".1"));
    }
}
