using System.Text.Json.Nodes;
using McpBroker.Cli;
using Spectre.Console;

namespace McpBroker.Tests.Cli;

/// <summary>How <c>mcp-broker status</c> draws: within the terminal's width without breaking a word, times to the second, latencies readable.</summary>
public sealed class StatusCommandTests
{
    private const string LongError = "the upstream exited with code 1 before answering initialize; stderr: Error: Cannot find module '@modelcontextprotocol/server-everything-with-a-long-name' required from /home/user/project";

    private static JsonObject Status() => new()
    {
        ["daemon"] = new JsonObject { ["version"] = "0.1.0", ["pid"] = 4242, ["uptime_seconds"] = 75L, ["config"] = "/home/user/.config/mcp-broker/broker.yaml" },
        ["config"] = new JsonObject { ["version"] = 3, ["loaded_at"] = "2026-12-07T04:52:47.1234567+00:00" },
        ["sessions"] = new JsonArray(new JsonObject
        {
            ["client"] = "claude", ["client_info"] = "claude-code 2.1.0", ["profile"] = "default", ["since"] = "2026-12-07T04:50:00.1234567+00:00",
        }),
        ["upstreams"] = new JsonArray(
            new JsonObject
            {
                ["name"] = "sequential-thinking", ["state"] = "circuit_open", ["pids"] = new JsonArray(), ["mode"] = "per_session", ["transport"] = "stdio",
                ["protocol"] = "2025-06-18", ["sessions"] = 0, ["restarts"] = 5, ["tools"] = null, ["auth"] = new JsonObject { ["state"] = "credentials_missing" },
                ["last_error"] = LongError,
            },
            new JsonObject
            {
                ["name"] = "memory", ["state"] = "running", ["pids"] = new JsonArray(12345), ["mode"] = "shared", ["transport"] = "stdio",
                ["protocol"] = "2025-11-25", ["sessions"] = 1, ["restarts"] = 0, ["tools"] = 9, ["idle_seconds"] = 12L, ["auth"] = new JsonObject { ["state"] = "none" },
            }),
    };

    [Fact]
    public void Render_OnAn80ColumnTerminal_StaysWithinIt_AndBreaksNoWord()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = new AnsiConsoleOutput(output) });
        console.Profile.Width = 80;

        StatusCommand.Render(JsonNode.Parse(Status().ToJsonString())!.AsObject(), console, DateTimeOffset.Parse("2026-12-07T04:54:00Z", System.Globalization.CultureInfo.InvariantCulture));

        var text = output.ToString();
        var lines = text.Split('\n');
        Assert.All(lines, l => Assert.True(l.TrimEnd().Length <= 80, $"wider than 80: '{l}'"));
        // Every word of the cells and of the error is whole somewhere in the output (not cut across lines).
        var words = text.Split([' ', '\n', '│', '┃', '|'], StringSplitOptions.RemoveEmptyEntries).Select(w => w.TrimEnd(':', ',')).ToHashSet();
        foreach (var word in LongError.Split(' ').Select(w => w.TrimEnd(':', ',')).Concat(["sequential-thinking", "circuit_open", "per_session", "2025-06-18", "credentials_missing"]))
        {
            Assert.Contains(word, words);
        }

        Assert.Contains("last error of sequential-thinking:", text);
        var loaded = Terminal.Time(DateTimeOffset.Parse("2026-12-07T04:52:47Z", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Matches(@"^2026-12-0\d \d\d:\d\d:47 UTC", loaded); // to the second, its zone named
        Assert.Contains($"loaded {loaded}", text.Replace("\n", " ", StringComparison.Ordinal));
        Assert.DoesNotContain(".1234567", text);
    }

    [Fact]
    public void Render_OnAWideTerminal_IsATable()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Out = new AnsiConsoleOutput(output) });
        console.Profile.Width = 200;

        StatusCommand.Render(JsonNode.Parse(Status().ToJsonString())!.AsObject(), console, DateTimeOffset.UtcNow);

        Assert.Matches(@"│ sequential-thinking\s+│ circuit_open\s+│\s+│ per_session\s+│ 2025-06-18 │", output.ToString());
    }

    [Theory]
    [InlineData(0.123456, "0.12")]
    [InlineData(4.24, "4.2")]
    [InlineData(37.4, "37")]
    [InlineData(1204.6, "1,205")]
    public void Ms_GivesThePrecisionThatTellsSomething(double ms, string text) => Assert.Equal(text, Terminal.Ms(ms));
}
