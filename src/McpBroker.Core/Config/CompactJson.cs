using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace McpBroker.Config;

/// <summary>
/// A YAML document's tree as the compact JSON text the config records are read from, written exactly as Json.NET
/// writes it (<c>JToken.ToString(Formatting.None)</c>), which read every config before the fast route: floats keep a
/// decimal point (<c>1.0</c>), only control characters, quotes, backslashes and U+0085/U+2028/U+2029 are escaped.
/// The raw text a <c>JsonElement</c> keeps (tool defaults, smoke arguments; shown by <c>config show</c>) is therefore
/// the same on either route. Only the scalars <see cref="YamlDocument"/> makes: strings, booleans, longs, doubles.
/// </summary>
internal static class CompactJson
{
    public static string Write(JsonNode? node)
    {
        var sb = new StringBuilder();
        Append(sb, node);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject obj:
            {
                sb.Append('{');
                var first = true;
                foreach (var (key, value) in obj)
                {
                    if (!first)
                    {
                        sb.Append(',');
                    }

                    first = false;
                    AppendString(sb, key);
                    sb.Append(':');
                    Append(sb, value);
                }

                sb.Append('}');
                break;
            }

            case JsonArray array:
            {
                sb.Append('[');
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    Append(sb, array[i]);
                }

                sb.Append(']');
                break;
            }

            default:
                AppendScalar(sb, node.AsValue());
                break;
        }
    }

    private static void AppendScalar(StringBuilder sb, JsonValue value)
    {
        if (value.TryGetValue<string>(out var text))
        {
            AppendString(sb, text);
        }
        else if (value.TryGetValue<bool>(out var flag))
        {
            sb.Append(flag ? "true" : "false");
        }
        else if (value.TryGetValue<long>(out var whole))
        {
            sb.Append(whole.ToString(CultureInfo.InvariantCulture));
        }
        else if (value.TryGetValue<double>(out var number))
        {
            var digits = number.ToString("R", CultureInfo.InvariantCulture);
            if (!double.IsFinite(number))
            {
                // Json.NET's default for a float it cannot write as a number: the symbol as a string.
                sb.Append('"').Append(digits).Append('"');
            }
            else
            {
                sb.Append(digits);
                if (digits.AsSpan().IndexOfAny('.', 'E', 'e') < 0)
                {
                    sb.Append(".0");
                }
            }
        }
        else
        {
            throw new ArgumentException($"a {value.GetValueKind()} that YAML does not produce", nameof(value));
        }
    }

    private static void AppendString(StringBuilder sb, string text)
    {
        sb.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"':
                    sb.Append("\\\"");
                    break;
                case '\\':
                    sb.Append("\\\\");
                    break;
                case '\n':
                    sb.Append("\\n");
                    break;
                case '\r':
                    sb.Append("\\r");
                    break;
                case '\t':
                    sb.Append("\\t");
                    break;
                case '\f':
                    sb.Append("\\f");
                    break;
                case '\b':
                    sb.Append("\\b");
                    break;
                case < ' ' or '\u0085' or '\u2028' or '\u2029':
                    sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }

        sb.Append('"');
    }
}
