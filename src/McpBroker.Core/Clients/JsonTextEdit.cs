using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace McpBroker.Clients;

/// <summary>
/// Edits a JSON (or JSON-with-comments) file as text: each edit splices new bytes in at the positions the reader
/// found, so every byte it does not touch — other servers, keys, comments, key order, indentation, line endings,
/// a byte-order mark — stays as the user wrote it. Re-serializing the document would lose comments and layout.
/// </summary>
internal sealed class JsonTextEdit
{
    private static readonly JsonReaderOptions s_reader = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
    private static readonly byte[] s_bom = [0xEF, 0xBB, 0xBF];

    private readonly bool _bom;
    private byte[] _text;

    private JsonTextEdit(byte[] text, bool bom)
    {
        _text = text;
        _bom = bom;
    }

    /// <summary>A JSON file's bytes (null or blank: an empty object). Throws <see cref="ClientConfigException"/> when it is not a JSON object.</summary>
    public static JsonTextEdit Parse(byte[]? file, string path)
    {
        var bom = file is not null && file.AsSpan().StartsWith(s_bom);
        var text = file is null ? [] : bom ? file[3..] : file;
        if (text.All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            text = "{}\n"u8.ToArray();
        }

        var edit = new JsonTextEdit(text, bom);
        var root = edit.Root(path);
        if (root.Kind != JsonValueKind.Object)
        {
            throw new ClientConfigException($"{path}: the file holds a JSON {root.Kind.ToString().ToLowerInvariant()}, not an object; a client config is an object");
        }

        return edit;
    }

    public byte[] ToBytes() => _bom ? [.. s_bom, .. _text] : _text;

    /// <summary>The value at <paramref name="path"/> (object keys from the root), or null.</summary>
    public Node? Find(params string[] path)
    {
        var node = Root("");
        foreach (var key in path)
        {
            if (node.Kind != JsonValueKind.Object || node.Members.LastOrDefault(m => m.Key == key) is not { } member)
            {
                return null;
            }

            node = member.Value;
        }

        return node;
    }

    /// <summary>Sets <paramref name="key"/> in the object at <paramref name="path"/>, creating the objects on the way.</summary>
    public void SetMember(string[] path, string key, JsonNode value)
    {
        var node = Root("");
        for (var depth = 0; depth <= path.Length; depth++)
        {
            var here = string.Join('.', path[..depth]);
            if (node.Kind != JsonValueKind.Object)
            {
                throw new ClientConfigException($"'{here}' is a JSON {node.Kind.ToString().ToLowerInvariant()}, not an object: fix it by hand first");
            }

            var name = depth < path.Length ? path[depth] : key;
            var matches = node.Members.Where(m => m.Key == name).ToList();
            if (matches.Count > 1)
            {
                throw new ClientConfigException($"'{(here.Length == 0 ? name : $"{here}.{name}")}' appears {matches.Count} times: remove the duplicates by hand first");
            }

            if (matches.Count == 0)
            {
                // The missing objects on the way, with the member inside, as one new member of the deepest one found.
                JsonNode nested = value;
                for (var i = path.Length - 1; i >= depth; i--)
                {
                    nested = new JsonObject { [i == path.Length - 1 ? key : path[i + 1]] = nested };
                }

                AddMember(node, name, nested);
                return;
            }

            if (depth == path.Length)
            {
                Replace(matches[0].Value, value);
                return;
            }

            node = matches[0].Value;
        }
    }

    /// <summary>Replaces a value with <paramref name="value"/>, indented like the line it starts on.</summary>
    public void Replace(Node node, JsonNode value) =>
        Splice(node.Start, node.End - node.Start, Render(value, LineIndent(node.Start), oneLine: true));

    /// <summary>A file written on one line, its final line break aside: a value replaced in it stays on that line.</summary>
    private bool OneLineFile()
    {
        var firstBreak = Array.IndexOf(_text, (byte)'\n');
        return _text.AsSpan(firstBreak).Trim("\r\n"u8).IsEmpty && _text.AsSpan(0, firstBreak).Trim(" \t\r{}"u8).Length > 0;
    }

    /// <summary>Appends <paramref name="items"/> to the array <paramref name="array"/>.</summary>
    public void Append(Node array, IReadOnlyList<string> items)
    {
        if (items.Count == 0)
        {
            return;
        }

        var rendered = string.Join(", ", items.Select(i => JsonSerializer.Serialize(i, Options(Unit()))));
        if (array.Items.Count == 0)
        {
            Splice(array.Start, array.End - array.Start, $"[{rendered}]");
            return;
        }

        Splice(array.Items[^1].End, 0, ", " + rendered);
    }

    /// <summary>A node's JSON text as the file writes it.</summary>
    public string Text(Node node) => Encoding.UTF8.GetString(_text, node.Start, node.End - node.Start);

    /// <summary>The string a node holds, or null when it is not a string.</summary>
    public string? StringAt(Node node)
    {
        if (node.Kind != JsonValueKind.String)
        {
            return null;
        }

        var reader = new Utf8JsonReader(_text.AsSpan(node.Start, node.End - node.Start), s_reader);
        reader.Read();
        return reader.GetString();
    }

    /// <summary>
    /// Removes member <paramref name="key"/> of the object at <paramref name="path"/>: its line(s) with any comment
    /// at their end, and the comma that separated it.
    /// </summary>
    public void RemoveMember(string[] path, string key)
    {
        if (Find(path) is not { Kind: JsonValueKind.Object } obj)
        {
            return;
        }

        var index = obj.Members.ToList().FindLastIndex(m => m.Key == key);
        if (index < 0)
        {
            return;
        }

        var member = obj.Members[index];
        var start = member.KeyStart;
        var lineStart = start;
        while (lineStart > 0 && _text[lineStart - 1] is (byte)' ' or (byte)'\t')
        {
            lineStart--;
        }

        var ownLine = lineStart == 0 || _text[lineStart - 1] == (byte)'\n';
        var end = SkipSpaces(member.Value.End);
        var hasComma = end < _text.Length && _text[end] == (byte)',';
        end = hasComma ? end + 1 : member.Value.End;
        if (ownLine && RestOfLineIsTrivia(end) is { } lineEnd)
        {
            start = lineStart;
            end = lineEnd + (_text.AsSpan(lineEnd).StartsWith("\r\n"u8) ? 2 : lineEnd < _text.Length ? 1 : 0);
        }

        // The last member leaves without a comma of its own: the one before it goes instead.
        var previousComma = -1;
        if (!hasComma && index > 0)
        {
            previousComma = CommaAfter(obj.Members[index - 1].Value.End, member.KeyStart);
        }

        Splice(start, end - start, "");
        if (previousComma >= 0)
        {
            Splice(previousComma, 1, "");
        }
    }

    /// <summary>The first ',' between two positions that is not inside a comment, or -1.</summary>
    private int CommaAfter(int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            if (_text[i] == (byte)'/' && i + 1 < to && _text[i + 1] == (byte)'/')
            {
                while (i < to && _text[i] != (byte)'\n')
                {
                    i++;
                }
            }
            else if (_text[i] == (byte)'/' && i + 1 < to && _text[i + 1] == (byte)'*')
            {
                i = Math.Max(i, _text.AsSpan(i + 2, to - i - 2).IndexOf("*/"u8) + i + 3);
            }
            else if (_text[i] == (byte)',')
            {
                return i;
            }
        }

        return -1;
    }

    private void AddMember(Node obj, string key, JsonNode value)
    {
        var nl = NewLine();
        var keyText = JsonSerializer.Serialize(key, Options(Unit()));
        var multiline = Array.IndexOf(_text, (byte)'\n', obj.Start, obj.End - obj.Start) >= 0 || (obj.Members.Count == 0 && Array.IndexOf(_text, (byte)'\n') >= 0);
        if (!multiline)
        {
            var compact = $"{keyText}: {value.ToJsonString(Options(null))}";
            if (obj.Members.Count == 0)
            {
                Splice(obj.Start + 1, 0, compact);
            }
            else
            {
                Splice(obj.Members[^1].Value.End, 0, ", " + compact);
            }

            return;
        }

        if (obj.Members.Count == 0)
        {
            var outer = LineIndent(obj.Start);
            var inner = outer + Unit();
            var member = $"{nl}{inner}{keyText}: {Render(value, inner)}";
            if (IsBlank(obj.Start + 1, obj.End - 1))
            {
                Splice(obj.Start, obj.End - obj.Start, "{" + member + nl + outer + "}");
            }
            else
            {
                Splice(obj.Start + 1, 0, member); // comments inside the braces stay after the new member
            }

            return;
        }

        // After the last member: a comma after its value (unless it has one), then the new member on a line of its
        // own after the rest of that line, so a '// comment' at its end stays with the member it describes.
        var last = obj.Members[^1];
        var indent = LineIndent(last.KeyStart);
        var afterValue = SkipSpaces(last.Value.End);
        var hasComma = afterValue < _text.Length && _text[afterValue] == (byte)',';
        var from = hasComma ? afterValue + 1 : last.Value.End;
        var lineEnd = RestOfLineIsTrivia(from);
        var memberText = $"{indent}{keyText}: {Render(value, indent)}";
        if (lineEnd is { } end)
        {
            Splice(end, 0, nl + memberText + (end == _text.Length ? nl : ""));
            if (!hasComma)
            {
                Splice(last.Value.End, 0, ",");
            }
        }
        else
        {
            Splice(from, 0, (hasComma ? "" : ",") + nl + memberText);
        }
    }

    /// <summary>The value rendered with the file's indentation unit, its inner lines indented from <paramref name="indent"/>.</summary>
    private string Render(JsonNode value, string indent, bool oneLine = false)
    {
        var compact = Array.IndexOf(_text, (byte)'\n') < 0 || (oneLine && OneLineFile());
        var text = value.ToJsonString(Options(compact ? null : Unit()));
        return compact ? text : text.ReplaceLineEndings(NewLine() + indent);
    }

    private static JsonSerializerOptions Options(string? unit) => unit is null
        ? new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }
        : new()
        {
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            WriteIndented = true,
            IndentCharacter = unit[0],
            IndentSize = unit.Length,
        };

    /// <summary>The file's indentation unit: the first member's indentation in the root object, else two spaces.</summary>
    private string Unit()
    {
        var root = Root("");
        if (root.Members.Count > 0)
        {
            var indent = LineIndent(root.Members[0].KeyStart);
            if (indent.Length > 0 && indent.All(c => c == indent[0]))
            {
                return indent;
            }
        }

        return "  ";
    }

    private string NewLine()
    {
        var lf = Array.IndexOf(_text, (byte)'\n');
        return lf > 0 && _text[lf - 1] == (byte)'\r' ? "\r\n" : "\n";
    }

    /// <summary>The spaces and tabs that start the line holding <paramref name="position"/>.</summary>
    private string LineIndent(int position)
    {
        var start = position;
        while (start > 0 && _text[start - 1] != (byte)'\n')
        {
            start--;
        }

        var end = start;
        while (end < position && _text[end] is (byte)' ' or (byte)'\t')
        {
            end++;
        }

        return Encoding.UTF8.GetString(_text, start, end - start);
    }

    private int SkipSpaces(int position)
    {
        while (position < _text.Length && _text[position] is (byte)' ' or (byte)'\t')
        {
            position++;
        }

        return position;
    }

    /// <summary>Where the line ends (the '\r' or '\n', or the end of the file) when the rest of it holds only spaces and a // comment.</summary>
    private int? RestOfLineIsTrivia(int position)
    {
        var p = SkipSpaces(position);
        if (p + 1 < _text.Length && _text[p] == (byte)'/' && _text[p + 1] == (byte)'/')
        {
            while (p < _text.Length && _text[p] is not ((byte)'\n' or (byte)'\r'))
            {
                p++;
            }
        }

        return p == _text.Length || _text[p] is (byte)'\n' or (byte)'\r' ? p : null;
    }

    private bool IsBlank(int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            if (_text[i] is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }

    private void Splice(int at, int remove, string insert) =>
        _text = [.. _text.AsSpan(0, at), .. Encoding.UTF8.GetBytes(insert), .. _text.AsSpan(at + remove)];

    private Node Root(string path)
    {
        try
        {
            var reader = new Utf8JsonReader(_text, s_reader);
            if (!reader.Read())
            {
                throw new ClientConfigException($"{path}: the file is empty");
            }

            var root = ReadNode(ref reader);
            if (reader.Read())
            {
                throw new ClientConfigException($"{path}: more than one JSON value (at byte {reader.TokenStartIndex})");
            }

            return root;
        }
        catch (JsonException e)
        {
            throw new ClientConfigException($"{path}: not valid JSON at line {e.LineNumber + 1}, column {e.BytePositionInLine + 1}: {e.Message.Split(" LineNumber:")[0]} Fix that spot by hand; nothing was changed");
        }
    }

    private static Node ReadNode(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                var members = new List<Member>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var keyStart = (int)reader.TokenStartIndex;
                    var key = reader.GetString()!;
                    reader.Read();
                    members.Add(new Member(key, keyStart, ReadNode(ref reader)));
                }

                return new Node(JsonValueKind.Object, start, (int)reader.BytesConsumed, members, []);
            case JsonTokenType.StartArray:
                var items = new List<Node>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    items.Add(ReadNode(ref reader));
                }

                return new Node(JsonValueKind.Array, start, (int)reader.BytesConsumed, [], items);
            default:
                var kind = reader.TokenType switch
                {
                    JsonTokenType.String => JsonValueKind.String,
                    JsonTokenType.Number => JsonValueKind.Number,
                    JsonTokenType.True => JsonValueKind.True,
                    JsonTokenType.False => JsonValueKind.False,
                    _ => JsonValueKind.Null,
                };
                return new Node(kind, start, (int)reader.BytesConsumed, [], []);
        }
    }

    /// <summary>A value's kind and byte range [Start, End) in the file, with its members or items.</summary>
    internal sealed record Node(JsonValueKind Kind, int Start, int End, IReadOnlyList<Member> Members, IReadOnlyList<Node> Items);

    internal sealed record Member(string Key, int KeyStart, Node Value);
}

/// <summary>A client's config file cannot be read or edited safely; the message says what to fix.</summary>
internal sealed class ClientConfigException(string message) : Exception(message);
