using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>How the CLI's tables and figures look: one console per output, times to the second, latencies to what matters.</summary>
internal static class Terminal
{
    /// <summary>Whether the output is this process's terminal (not a pipe, a file or a test's writer): where tables, colours and live views go.</summary>
    public static bool IsTerminal(TextWriter output) => ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected;

    /// <summary>
    /// The console to draw on: the terminal (its width, its colours), or, when the output is redirected or a test's
    /// writer, plain text with no width to wrap at — a file or a pipe gets whole lines.
    /// </summary>
    public static IAnsiConsole Console(TextWriter output)
    {
        if (IsTerminal(output))
        {
            return AnsiConsole.Console;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 4096;
        return console;
    }

    /// <summary>A timestamp from the daemon's JSON, to the second, in local time with its zone named (UTC when local is UTC).</summary>
    public static string Time(JsonNode? node) =>
        DateTimeOffset.TryParse(node?.ToString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var at) ? Time(at) : "";

    public static string Time(DateTimeOffset at)
    {
        var local = at.ToLocalTime();
        return local.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            + (local.Offset == TimeSpan.Zero ? " UTC" : local.ToString(" 'UTC'zzz", CultureInfo.InvariantCulture));
    }

    /// <summary>A latency in milliseconds with the precision that tells something: 0.35, 4.2, 37, 1,204.</summary>
    public static string Ms(JsonNode? node) => node?.GetValue<double>() is { } ms ? Ms(ms) : "";

    public static string Ms(double ms) => ms switch
    {
        < 1 => ms.ToString("0.00", CultureInfo.InvariantCulture),
        < 10 => ms.ToString("0.0", CultureInfo.InvariantCulture),
        _ => ms.ToString("#,0", CultureInfo.InvariantCulture),
    };
}
