using YamlDotNet.Core;

namespace McpBroker.Config;

/// <summary>
/// Turns a YAML reader's failure into what a person can act on: the line that is wrong (YamlDotNet often reports a
/// later one, or line 1 for a tab), the line itself with a caret under the column, and the fix. The common mistakes
/// are recognised from the text around the reported mark: a tab used for indentation, a line indented to no level of
/// the lines above, a line indented deeper than its key (so it continues that key's value), <c>key value</c> without
/// the colon, a quote or a bracket left open.
/// </summary>
internal static class YamlSyntax
{
    /// <summary>The error for <paramref name="error"/> (a <see cref="YamlException"/>, or what the scanner throws on an unclosed bracket) while reading <paramref name="text"/>.</summary>
    public static string Explain(string text, Exception error)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var (line, column) = error is YamlException y ? ((int)y.Start.Line, (int)y.Start.Column) : (lines.Length, 1);
        var message = error is YamlException ? error.Message : "";
        var (at, col, what) = Diagnose(lines, line, column, message, error is YamlException);
        return $"not valid YAML at line {at}, column {col}: {what}\n{Quote(lines, at, col)}";
    }

    private static (int Line, int Column, string What) Diagnose(string[] lines, int line, int column, string message, bool located)
    {
        // A tab in the indentation: YamlDotNet reports it at line 1, or at the line before.
        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase) || !located)
        {
            if ((TabIndented(lines, from: Math.Max(1, line - 1)) ?? TabIndented(lines, from: 1)) is { } tab)
            {
                return (tab.Line, tab.Column, "a tab is used for indentation; YAML indents with spaces only — replace the tab with spaces");
            }
        }

        if (message.Contains("quoted scalar", StringComparison.Ordinal) && At(lines, line, column) is '"' or '\'' && At(lines, line, column) is var quote)
        {
            return (line, column, $"the {(quote == '"' ? "double" : "single")}-quoted value that starts here is not closed; add the closing {quote} at its end (on this line)");
        }

        if (!located || message.Contains("flow", StringComparison.Ordinal))
        {
            if (UnclosedBracket(lines) is { } open)
            {
                var close = open.Bracket == '[' ? ']' : '}';
                return (open.Line, open.Column, $"the '{open.Bracket}' that starts here is not closed; add '{close}' at the end of its {(open.Bracket == '[' ? "list" : "mapping")}");
            }
        }

        if (message.Contains("invalid mapping", StringComparison.Ordinal) || message.Contains("mapping values are not allowed", StringComparison.Ordinal))
        {
            // A plain value ran on into this line and met a ': ': the line above has no colon, or this one is indented too deep.
            if (Previous(lines, line) is { } above)
            {
                var text = lines[above - 1];
                if (!HasColon(text) && !text.TrimStart().StartsWith('-'))
                {
                    return (above, Indent(text) + 1, $"'{text.Trim()}' has no colon: a key needs ': ' after it — write '{Keyed(text.Trim())}'");
                }

                if (Indent(lines[line - 1]) > Indent(text))
                {
                    return (line, 1, $"this line is indented deeper ({Indent(lines[line - 1])} spaces) than '{text.Trim()}' above it, so it reads as the rest of that value; "
                        + $"indent it like the keys it belongs with ({Levels(lines, line)}), or quote the value above if it holds ': '");
                }
            }
        }

        if (message.Contains("did not find expected key", StringComparison.Ordinal) || message.Contains("did not find expected '-'", StringComparison.Ordinal))
        {
            var text = lines.ElementAtOrDefault(line - 1) ?? "";
            if (text.Trim().Length > 0 && !HasColon(text) && !text.TrimStart().StartsWith('-'))
            {
                return (line, Indent(text) + 1, $"'{text.Trim()}' is not 'key: value': a colon and a space after the key are missing — write '{Keyed(text.Trim())}'");
            }

            // Deeper than the line above, whose value is already written: either that line was dedented by mistake (its
            // neighbours are indented like this one) or this one is indented too deep.
            if (text.Trim().Length > 0 && Previous(lines, line) is { } above && Indent(text) > Indent(lines[above - 1]) && HasValue(lines[above - 1]))
            {
                return Previous(lines, above) is { } before && Indent(lines[before - 1]) == Indent(text)
                    ? (above, Indent(lines[above - 1]) + 1, $"this line is indented {Indent(lines[above - 1])} space(s), the lines before and after it {Indent(text)}; "
                        + $"indent it {Indent(text)} spaces like them (less indentation ends the entry they belong to)")
                    : (line, Indent(text) + 1, $"this line is indented deeper ({Indent(text)} spaces) than '{lines[above - 1].Trim()}' above it, which already has its value; "
                        + $"indent it like the entries it belongs with ({Levels(lines, line)})");
            }

            if (text.Trim().Length > 0)
            {
                return (line, Indent(text) + 1, $"this line is indented {Indent(text)} space(s), which is no level of the lines above it; "
                    + $"indent it like the entries it belongs with ({Levels(lines, line)})");
            }
        }

        // Anything else: YamlDotNet's words, at its mark.
        return (line, column, message.TrimEnd('.').Length == 0 ? "the text cannot be read as YAML" : message.TrimEnd('.'));
    }

    /// <summary>The line and its number, with a caret under the column.</summary>
    private static string Quote(string[] lines, int line, int column)
    {
        var text = lines.ElementAtOrDefault(line - 1) ?? "";
        var number = line.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Tabs are shown as '→' so the caret stays under the right character.
        return $"  {number} | {text.Replace('\t', '→')}\n  {new string(' ', number.Length)} | {new string(' ', Math.Max(0, column - 1))}^";
    }

    private static char? At(string[] lines, int line, int column) =>
        line >= 1 && line <= lines.Length && column >= 1 && column <= lines[line - 1].Length ? lines[line - 1][column - 1] : null;

    private static (int Line, int Column)? TabIndented(string[] lines, int from)
    {
        for (var i = from - 1; i < lines.Length; i++)
        {
            var lead = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', StringComparison.Ordinal);
            if (tab >= 0 && tab < lead && lines[i].Trim().Length > 0)
            {
                return (i + 1, tab + 1);
            }
        }

        return null;
    }

    /// <summary>The first '[' or '{' left open, skipping quoted text and comments; a flow collection may span lines.</summary>
    private static (int Line, int Column, char Bracket)? UnclosedBracket(string[] lines)
    {
        var open = new Stack<(int Line, int Column, char Bracket)>();
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i];
            if (open.Count > 0 && text.Trim().Length > 0 && !text.TrimStart().StartsWith('#') && Indent(text) <= Indent(lines[open.Peek().Line - 1])
                && text.TrimStart()[0] is not (']' or '}'))
            {
                // A line back at (or before) the indentation of the line that opened it: the bracket was never closed.
                return open.Last();
            }

            char? quote = null;
            for (var c = 0; c < text.Length; c++)
            {
                var ch = text[c];
                if (quote is not null)
                {
                    quote = ch == quote ? null : quote;
                    continue;
                }

                if (ch is '"' or '\'' && (c == 0 || text[c - 1] is ' ' or '[' or '{' or ','))
                {
                    quote = ch;
                }
                else if (ch == '#' && (c == 0 || text[c - 1] == ' '))
                {
                    break;
                }
                else if (ch is '[' or '{')
                {
                    open.Push((i + 1, c + 1, ch));
                }
                else if (ch is ']' or '}' && open.Count > 0)
                {
                    open.Pop();
                }
            }
        }

        return open.Count > 0 ? open.Last() : null;
    }

    /// <summary>The nearest line above <paramref name="line"/> that holds something (not blank, not a comment).</summary>
    private static int? Previous(string[] lines, int line)
    {
        for (var i = line - 2; i >= 0; i--)
        {
            if (lines[i].Trim().Length > 0 && !lines[i].TrimStart().StartsWith('#'))
            {
                return i + 1;
            }
        }

        return null;
    }

    /// <summary>The indentations a line at <paramref name="line"/> could take: the levels of the lines above it, innermost first, with a key of each.</summary>
    private static string Levels(string[] lines, int line)
    {
        var levels = new List<string>();
        var below = int.MaxValue;
        for (var i = line - 2; i >= 0 && below > 0; i--)
        {
            var text = lines[i];
            if (text.Trim().Length == 0 || text.TrimStart().StartsWith('#') || Indent(text) >= below)
            {
                continue;
            }

            below = Indent(text);
            var key = text.Trim().TrimStart('-', ' ').Split(':')[0];
            levels.Add($"{below} space(s) like '{key}' on line {i + 1}");
        }

        return levels.Count == 0 ? "no indentation at the top level" : string.Join(", or ", levels);
    }

    private static bool HasColon(string text)
    {
        var trimmed = text.Split(" #")[0].TrimEnd();
        return trimmed.Contains(": ", StringComparison.Ordinal) || trimmed.EndsWith(':');
    }

    /// <summary>A 'key: value' line whose value is written on it (so no entry may be nested under it).</summary>
    private static bool HasValue(string text)
    {
        var trimmed = text.Split(" #")[0].Trim();
        var colon = trimmed.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && trimmed[(colon + 1)..].Trim() is { Length: > 0 } value && value[0] is not ('|' or '>' or '&');
    }

    private static string Keyed(string text) => text.IndexOf(' ', StringComparison.Ordinal) is > 0 and var space
        ? $"{text[..space]}: {text[(space + 1)..].TrimStart()}"
        : $"{text}:";

    private static int Indent(string text) => text.Length - text.TrimStart(' ').Length;
}
