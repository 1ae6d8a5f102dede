using System.Text.Json;
using McpBroker.Daemon;
using McpBroker.Platform;
using Microsoft.Extensions.Logging;

namespace McpBroker.Tests.Daemon;

/// <summary>Log files: rotation by size and count, and the daemon's JSON line format.</summary>
public sealed class FileLoggerProviderTests : IDisposable
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

    [Fact]
    public void DaemonLogLine_IsOneJsonObject_WithTheMessagesNamedValues()
    {
        var state = new List<KeyValuePair<string, object?>>
        {
            new("Name", "memory"), new("Pid", 42), new("Message", "clash"), new("{OriginalFormat}", "Starting upstream {Name} (pid {Pid})"),
        };
        var line = FileLoggerProvider.Format(new DateTimeOffset(2026, 11, 25, 8, 0, 0, TimeSpan.Zero), LogLevel.Warning, "McpBroker.Upstreams.UpstreamSupervisor",
            new EventId(100), state, "Starting upstream memory (pid 42) — it's 'quoted'", new IOException("disk"));

        Assert.DoesNotContain('\n', line);
        var json = JsonDocument.Parse(line).RootElement;
        Assert.Equal("2026-11-25T08:00:00.000Z", json.GetProperty("ts").GetString());
        Assert.Equal("warn", json.GetProperty("level").GetString());
        Assert.Equal(100, json.GetProperty("event").GetInt32());
        Assert.Equal("memory", json.GetProperty("name").GetString());
        Assert.Equal(42, json.GetProperty("pid").GetInt32());
        Assert.Equal("clash", json.GetProperty("_message").GetString());
        Assert.Equal("Starting upstream memory (pid 42) — it's 'quoted'", json.GetProperty("message").GetString());
        Assert.Contains("it's 'quoted'", line);
        Assert.Equal("IOException: disk", json.GetProperty("exception").GetString());
        Assert.False(json.TryGetProperty("{OriginalFormat}", out _));
    }
}
