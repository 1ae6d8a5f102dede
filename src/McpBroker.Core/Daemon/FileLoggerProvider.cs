using System.Text.Encodings.Web;
using System.Text.Json;
using McpBroker.Platform;
using Microsoft.Extensions.Logging;

namespace McpBroker.Daemon;

/// <summary>
/// The daemon's log: one JSON object per line in <c>logs/daemon.log</c> (time, level, category, event id, message and
/// the message's named values), rotated at 5 MB with three old files kept. <c>mcp-broker logs</c> reads it back.
/// Every text of a line — ours and the MCP SDK's, whose messages can quote what a server answered — passes the daemon's
/// one masking step (<see cref="Config.SecretMask"/>) before it is written.
/// </summary>
internal sealed class FileLoggerProvider(string directory) : ILoggerProvider
{
    public const string FileName = "daemon.log";
    public const long MaxBytes = 5 * 1024 * 1024;
    public const int Keep = 3;
    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly RotatingFile _file = new(Path.Combine(directory, FileName), MaxBytes, Keep);

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose() => _file.Dispose();

    /// <summary>One log line as JSON.</summary>
    internal static string Format<TState>(DateTimeOffset time, LogLevel level, string category, EventId eventId, TState state, string message, Exception? exception)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, s_options))
        {
            json.WriteStartObject();
            json.WriteString("ts", time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("level", level switch
            {
                LogLevel.Trace => "trace",
                LogLevel.Debug => "debug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "error",
                _ => "critical",
            });
            json.WriteString("category", category);
            if (eventId.Id != 0)
            {
                json.WriteNumber("event", eventId.Id);
            }

            json.WriteString("message", Config.SecretMask.Mask(message));
            if (state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                foreach (var (key, value) in fields)
                {
                    if (key == "{OriginalFormat}")
                    {
                        continue;
                    }

                    var name = char.ToLowerInvariant(key[0]) + key[1..];
                    if (name is "ts" or "level" or "category" or "event" or "message" or "exception")
                    {
                        name = "_" + name;
                    }

                    switch (value)
                    {
                        case null:
                            json.WriteNull(name);
                            break;
                        case int or long or uint or double:
                            json.WriteNumber(name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
                            break;
                        case bool b:
                            json.WriteBoolean(name, b);
                            break;
                        default:
                            json.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) is { } text ? Config.SecretMask.Mask(text) : null);
                            break;
                    }
                }
            }

            if (exception is not null)
            {
                json.WriteString("exception", Config.SecretMask.Mask($"{exception.GetType().Name}: {exception.Message}"));
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private sealed class FileLogger(FileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider._file.WriteLine(Format(DateTimeOffset.UtcNow, logLevel, category, eventId, state, formatter(state, exception), exception));
    }
}
