using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>A span written as seconds (<c>30</c>) or with a unit (<c>250ms</c>, <c>30s</c>, <c>10m</c>, <c>2h</c>).</summary>
public readonly partial record struct Duration(TimeSpan Value)
{
    public const string Pattern = "^[0-9]+(ms|s|m|h)?$";

    public static bool TryParse(string text, out Duration duration)
    {
        duration = default;
        var match = DurationRegex().Match(text.Trim());
        if (!match.Success || !long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        duration = new Duration(match.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => TimeSpan.FromSeconds(n),
        });
        return true;
    }

    public override string ToString() => Value switch
    {
        { TotalHours: >= 1 } v when v.Ticks % TimeSpan.TicksPerHour == 0 => $"{(long)v.TotalHours}h",
        { TotalMinutes: >= 1 } v when v.Ticks % TimeSpan.TicksPerMinute == 0 => $"{(long)v.TotalMinutes}m",
        { TotalSeconds: >= 1 } v when v.Ticks % TimeSpan.TicksPerSecond == 0 => $"{(long)v.TotalSeconds}s",
        var v => $"{(long)v.TotalMilliseconds}ms",
    };

    [GeneratedRegex("^([0-9]+)(ms|s|m|h)?$")]
    private static partial Regex DurationRegex();

    internal sealed class JsonConverter : System.Text.Json.Serialization.JsonConverter<Duration>
    {
        public override Duration Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seconds) && seconds >= 0)
            {
                return new Duration(TimeSpan.FromSeconds(seconds));
            }

            if (reader.TokenType == JsonTokenType.String && TryParse(reader.GetString()!, out var d))
            {
                return d;
            }

            throw new JsonException("not a duration; write seconds (30) or a number with ms, s, m or h (10m)");
        }

        public override void Write(Utf8JsonWriter writer, Duration value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString());
    }
}
