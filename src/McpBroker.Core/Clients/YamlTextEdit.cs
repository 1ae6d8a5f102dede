using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace McpBroker.Clients;

/// <summary>
/// Edits one top-level block mapping of a YAML file (Goose's <c>extensions:</c>) as lines of text: an entry is replaced
/// or appended in the mapping's own indentation, or taken out, and every other line — comments, key order, quoting,
/// the client's other settings — stays as it was. Re-serializing through a YAML library would drop the comments. The
/// file is parsed first (and again after the edit) so a file this cannot edit safely is refused, not damaged.
/// </summary>
internal sealed partial class YamlTextEdit
{
    private readonly List<string> _lines;
    private readonly string _nl;
    private readonly string _path;
    private readonly bool _finalNewline;

    private YamlTextEdit(string text, string path)
    {
        _nl = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        _finalNewline = text.Length == 0 || text.EndsWith('\n');
        _lines = [.. text.Split('\n').Select(l => l.TrimEnd('\r'))];
        if (_finalNewline)
        {
            _lines.RemoveAt(_lines.Count - 1);
        }

        _path = path;
    }

    /// <summary>A YAML file's text (null: an empty file). Throws <see cref="ClientConfigException"/> when it is not a YAML mapping.</summary>
    public static YamlTextEdit Parse(string? text, string path)
    {
        text ??= "";
        if (Load(text, path) is { } root && root is not YamlMappingNode)
        {
            throw new ClientConfigException($"{path}: the file holds a YAML {Kind(root)}, not a mapping; a client config is a mapping");
        }

        return new YamlTextEdit(text, path);
    }

    /// <summary>The document's root node, or null for an empty file; a syntax error becomes one clear line.</summary>
    public static YamlNode? Load(string text, string path)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            return stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        }
        catch (YamlException e)
        {
            throw new ClientConfigException($"{path}: not valid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.Message}; fix it by hand first");
        }
    }

    /// <summary>Puts <paramref name="entry"/> (the entry's lines, built for the given indentation) under <paramref name="container"/>, replacing an entry of that name.</summary>
    public void SetEntry(string container, string name, Func<string, string> entry)
    {
        var (header, end, step) = Block(container);
        if (header < 0)
        {
            while (_lines.Count > 0 && _lines[^1].Trim().Length == 0)
            {
                _lines.RemoveAt(_lines.Count - 1);
            }

            if (_lines.Count > 0)
            {
                _lines.Add("");
            }

            _lines.Add($"{container}:");
            _lines.AddRange(Lines(entry("  ")));
            return;
        }

        var indent = new string(' ', step);
        var (start, stop) = Entry(header, end, indent, name);
        if (start >= 0)
        {
            _lines.RemoveRange(start, stop - start);
            _lines.InsertRange(start, Lines(entry(indent)));
        }
        else
        {
            _lines.InsertRange(LastContent(header, end) + 1, Lines(entry(indent)));
        }
    }

    /// <summary>The entry's lines without their common indentation (its key line first), or null when there is none.</summary>
    public string? EntryText(string container, string name)
    {
        var (header, end, step) = Block(container);
        if (header < 0 || Entry(header, end, new string(' ', step), name) is not { Start: >= 0 } span)
        {
            return null;
        }

        return string.Concat(_lines.Skip(span.Start).Take(span.Stop - span.Start).Select(l => (l.Length >= step ? l[step..] : l.TrimStart()) + "\n"));
    }

    /// <summary>Takes the entry named <paramref name="name"/> out of <paramref name="container"/>, if it is there.</summary>
    public void RemoveEntry(string container, string name)
    {
        var (header, end, step) = Block(container);
        if (header < 0)
        {
            return;
        }

        var (start, stop) = Entry(header, end, new string(' ', step), name);
        if (start >= 0)
        {
            _lines.RemoveRange(start, stop - start);
        }
    }

    public override string ToString()
    {
        var text = string.Join(_nl, _lines) + (_finalNewline && _lines.Count > 0 ? _nl : "");
        if (Load(text, _path) is { } root && root is not YamlMappingNode)
        {
            throw new ClientConfigException($"{_path}: editing the file would not leave a YAML mapping; nothing was written");
        }

        return text;
    }

    /// <summary>
    /// The container's header line, the line after its block, and its entries' indentation. A flow-style mapping with
    /// entries is refused; an empty one (<c>extensions: {}</c>) becomes a block header.
    /// </summary>
    private (int Header, int End, int Step) Block(string container)
    {
        var header = _lines.FindIndex(l => TopKey().Match(l) is { Success: true } m && Unquote(m.Groups["key"].Value) == container);
        if (header < 0)
        {
            return (-1, -1, 2);
        }

        var rest = TopKey().Match(_lines[header]).Groups["rest"].Value.Trim();
        if (rest == "{}" || rest.StartsWith("{}", StringComparison.Ordinal) && rest[2..].TrimStart().StartsWith('#'))
        {
            _lines[header] = $"{container}:";
        }
        else if (rest.Length > 0 && !rest.StartsWith('#'))
        {
            throw new ClientConfigException($"{_path}: '{container}:' is written in flow style or as a scalar; write it as a block mapping (one entry per line), then run this again");
        }

        if (_lines.Skip(header + 1).FirstOrDefault(IsContent) is { } next && next.StartsWith('-'))
        {
            throw new ClientConfigException($"{_path}: '{container}:' holds a list, not a mapping of names; fix it by hand first");
        }

        var end = header + 1;
        while (end < _lines.Count && (_lines[end].Length == 0 || char.IsWhiteSpace(_lines[end][0]) || _lines[end].TrimStart().StartsWith('#') && Content(header, end)))
        {
            end++;
        }

        var child = _lines.Skip(header + 1).Take(end - header - 1).FirstOrDefault(IsContent);
        var step = child is null ? 2 : child.Length - child.TrimStart(' ').Length;
        if (child is not null && (step == 0 || child.TrimStart(' ').StartsWith('-')))
        {
            throw new ClientConfigException($"{_path}: '{container}:' holds a list, not a mapping of names; fix it by hand first");
        }

        return (header, end, step);
    }

    /// <summary>True when a column-0 comment at <paramref name="line"/> is followed by more of the block (not by the next key).</summary>
    private bool Content(int header, int line)
    {
        for (var i = line + 1; i < _lines.Count; i++)
        {
            if (IsContent(_lines[i]))
            {
                return char.IsWhiteSpace(_lines[i][0]);
            }
        }

        return false;
    }

    /// <summary>The lines of the entry named <paramref name="name"/>: its key line up to the next line at its indentation or less.</summary>
    private (int Start, int Stop) Entry(int header, int end, string indent, string name)
    {
        for (var i = header + 1; i < end; i++)
        {
            var line = _lines[i];
            if (!line.StartsWith(indent, StringComparison.Ordinal) || line.Length == indent.Length || line[indent.Length] == ' '
                || ChildKey().Match(line[indent.Length..]) is not { Success: true } m || Unquote(m.Groups["key"].Value) != name)
            {
                continue;
            }

            var stop = i + 1;
            for (var j = i + 1; j < end; j++)
            {
                if (IsContent(_lines[j]) && _lines[j].Length - _lines[j].TrimStart(' ').Length <= indent.Length)
                {
                    break;
                }

                if (IsContent(_lines[j]))
                {
                    stop = j + 1;
                }
            }

            return (i, stop);
        }

        return (-1, -1);
    }

    private int LastContent(int header, int end)
    {
        var last = header;
        for (var i = header + 1; i < end; i++)
        {
            if (IsContent(_lines[i]))
            {
                last = i;
            }
        }

        return last;
    }

    private static bool IsContent(string line) => line.Trim().Length > 0 && !line.TrimStart().StartsWith('#');

    private static IEnumerable<string> Lines(string block) => block.TrimEnd('\n').Split('\n');

    private static string Unquote(string key) =>
        key.Length >= 2 && (key[0] == '"' && key[^1] == '"' || key[0] == '\'' && key[^1] == '\'') ? key[1..^1] : key;

    private static string Kind(YamlNode node) => node switch
    {
        YamlSequenceNode => "list",
        YamlScalarNode => "scalar",
        _ => "value",
    };

    [GeneratedRegex("""^(?<key>"[^"]*"|'[^']*'|[^\s#:'"][^:#]*?)\s*:(?<rest>(\s.*)?)$""")]
    private static partial Regex TopKey();

    [GeneratedRegex("""^(?<key>"[^"]*"|'[^']*'|[^\s#:'"-][^:#]*?)\s*:(\s.*)?$""")]
    private static partial Regex ChildKey();
}
