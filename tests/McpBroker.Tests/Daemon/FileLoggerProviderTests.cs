using System.Text.Json;
using McpBroker.Daemon;
using Microsoft.Extensions.Logging;

namespace McpBroker.Tests.Daemon;

/// <summary>The daemon's log file format: one JSON object per line with the message's named values.</summary>
public sealed class FileLoggerProviderTests
{
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
