using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace McpBroker.Clients;

/// <summary>
/// Edits the <c>[mcp_servers.NAME]</c> (and <c>[apps.ID]</c>) tables of a Codex config.toml through Tomlyn's syntax tree: the tree gives each
/// table's exact span, and only those spans change, so every other table, key, comment and blank line stays as it was.
/// </summary>
internal sealed class TomlTextEdit
{
    private const string Container = "mcp_servers";
    private const string Apps = "apps";
    private readonly string _path;
    private string _text;

    private TomlTextEdit(string text, string path)
    {
        _text = text;
        _path = path;
    }

    /// <summary>A config.toml's text (null: a new file). Throws <see cref="ClientConfigException"/> when it is not valid TOML.</summary>
    public static TomlTextEdit Parse(string? text, string path)
    {
        var edit = new TomlTextEdit(text ?? "", path);
        edit.Document();
        return edit;
    }

    public override string ToString() => _text;

    /// <summary>Replaces the server's table (and its sub-tables) with <paramref name="tableText"/>, or adds it after the last server.</summary>
    public void SetServer(string name, string tableText)
    {
        var doc = Document();
        RefuseInlineForms(doc, name);
        tableText = tableText.ReplaceLineEndings(NewLine());
        var own = Tables(doc).Where(t => t.Path.Count >= 2 && t.Path[0] == Container && t.Path[1] == name).ToList();
        if (own.Count > 0)
        {
            // Later spans first, so the earlier offsets still hold; the first table's place gets the new text.
            foreach (var table in own.Skip(1).Reverse())
            {
                _text = _text.Remove(table.Start, WithBlankLine(table.End) - table.Start);
            }

            _text = _text[..own[0].Start] + tableText + _text[own[0].End..];
        }
        else if (Tables(doc).LastOrDefault(t => t.Path.Count >= 2 && t.Path[0] == Container) is { } last)
        {
            var lead = _text[last.End - 1] == '\n' ? NewLine() : NewLine() + NewLine();
            _text = _text[..last.End] + lead + tableText + _text[last.End..];
        }
        else
        {
            var lead = _text.Length == 0 ? "" : _text.EndsWith('\n') ? NewLine() : NewLine() + NewLine();
            _text += lead + tableText;
        }

        Check();
    }

    /// <summary>A server's table and sub-tables as the file writes them, or null when it has none.</summary>
    public string? ServerText(string name)
    {
        var own = Tables(Document()).Where(t => t.Path.Count >= 2 && t.Path[0] == Container && t.Path[1] == name).ToList();
        return own.Count == 0 ? null : string.Concat(own.Select(t => _text[t.Start..t.End] is var text && text.EndsWith('\n') ? text : text + NewLine()));
    }

    /// <summary>Removes a server's table and sub-tables (and one blank line after them).</summary>
    public void RemoveServer(string name)
    {
        var doc = Document();
        RefuseInlineForms(doc, name);
        foreach (var table in Tables(doc).Where(t => t.Path.Count >= 2 && t.Path[0] == Container && t.Path[1] == name).Reverse())
        {
            _text = _text.Remove(table.Start, WithBlankLine(table.End) - table.Start);
        }

        Check();
    }

    /// <summary>
    /// Switches a Codex hosted app (connector) off: <c>enabled = false</c> in its <c>[apps.ID]</c> table — the value
    /// replaced where the table has the key, the line added under its header where it has not, and a new table added
    /// (after the last <c>[apps.*]</c> one, else at the end) where there is none. Returns false when it was off already.
    /// </summary>
    public bool DisableApp(string id)
    {
        var doc = Document();
        foreach (var kv in doc.KeyValues.Where(kv => KeyPath(kv.Key) is [Apps, ..]))
        {
            throw new ClientConfigException($"{_path}:{kv.Span.Start.Line + 1}: apps is written as a key, not as [apps.ID] tables; rewrite it as tables, then run this again");
        }

        foreach (var table in Tables(doc).Where(t => t.Path is [Apps]))
        {
            foreach (var item in table.Syntax.Items)
            {
                if (item is KeyValueSyntax pair && KeyPath(pair.Key) is [var first, ..] && first == id)
                {
                    throw new ClientConfigException($"{_path}:{pair.Span.Start.Line + 1}: '{id}' is written as a key under [apps]; rewrite it as [apps.{id}], then run this again");
                }
            }
        }

        var nl = NewLine();
        if (Tables(doc).FirstOrDefault(t => t.Path is [Apps, var own] && own == id) is { } app)
        {
            var enabled = app.Syntax.Items.OfType<KeyValueSyntax>().FirstOrDefault(kv => KeyPath(kv.Key) is ["enabled"]);
            if (enabled?.Value is BooleanValueSyntax { Value: false })
            {
                return false;
            }

            if (enabled?.Value is { } value)
            {
                _text = _text[..value.Span.Start.Offset] + "false" + _text[(value.Span.End.Offset + 1)..];
            }
            else
            {
                var headerEnd = _text.IndexOf('\n', app.Start);
                _text = headerEnd < 0 ? _text + nl + "enabled = false" + nl : _text.Insert(headerEnd + 1, "enabled = false" + nl);
            }
        }
        else
        {
            var table = $"[{Apps}.{ClientFormats.TomlKey(id)}]{nl}enabled = false{nl}";
            if (Tables(doc).LastOrDefault(t => t.Path.Count >= 2 && t.Path[0] == Apps) is { } last)
            {
                var lead = _text[last.End - 1] == '\n' ? nl : nl + nl;
                _text = _text[..last.End] + lead + table + _text[last.End..];
            }
            else
            {
                var lead = _text.Length == 0 ? "" : _text.EndsWith('\n') ? nl : nl + nl;
                _text += lead + table;
            }
        }

        Check();
        return true;
    }

    /// <summary>A removed table takes one blank line after it along, so no double gap is left.</summary>
    private int WithBlankLine(int end) =>
        end + (_text.AsSpan(end).StartsWith("\r\n") ? 2 : _text.AsSpan(end).StartsWith("\n") ? 1 : 0);

    private void Check()
    {
        var doc = Parse();
        if (doc.HasErrors)
        {
            throw new InvalidOperationException($"the edited TOML does not parse ({string.Join("; ", doc.Diagnostics)}); nothing was written");
        }
    }

    /// <summary>
    /// Tomlyn's parser, except that its lexer throws (Char.ConvertFromUtf32, writing its own message about an escape) when
    /// a string's backslash is the last character of the file: that is a file that is not valid TOML, and says so.
    /// </summary>
    private DocumentSyntax Parse()
    {
        try
        {
            return SyntaxParser.Parse(_text, _path, validate: true);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw UnfinishedEscape(_path);
        }
    }

    /// <summary>What Tomlyn's ArgumentOutOfRangeException on a backslash at the end of the file means (see <see cref="Parse"/>).</summary>
    internal static ClientConfigException UnfinishedEscape(string path) =>
        new($"{path}: not valid TOML: a string ends in an unfinished escape (a backslash at the end of the file); close the string, then run this again");

    private DocumentSyntax Document()
    {
        var doc = Parse();
        if (doc.HasErrors)
        {
            throw new ClientConfigException($"{_path}: not valid TOML: {string.Join("; ", doc.Diagnostics.Where(d => d.Kind == DiagnosticMessageKind.Error).Select(d => d.ToString()))}");
        }

        return doc;
    }

    /// <summary>
    /// Servers written as keys (<c>mcp_servers = { … }</c>, <c>mcp_servers.x.command = …</c>, or <c>x = { … }</c> under
    /// <c>[mcp_servers]</c>) cannot take a <c>[mcp_servers.x]</c> table beside them: say where, rather than guess.
    /// </summary>
    private void RefuseInlineForms(DocumentSyntax doc, string name)
    {
        foreach (var kv in doc.KeyValues)
        {
            if (KeyPath(kv.Key) is [Container, ..])
            {
                throw new ClientConfigException($"{_path}:{kv.Span.Start.Line + 1}: mcp_servers is written as a key, not as [mcp_servers.NAME] tables; rewrite it as tables, then run this again");
            }
        }

        foreach (var table in Tables(doc).Where(t => t.Path is [Container]))
        {
            foreach (var kv in table.Syntax.Items)
            {
                if (kv is KeyValueSyntax pair && KeyPath(pair.Key) is [var first, ..] && first == name)
                {
                    throw new ClientConfigException($"{_path}:{pair.Span.Start.Line + 1}: '{name}' is written as a key under [mcp_servers]; rewrite it as [mcp_servers.{name}], then run this again");
                }
            }
        }
    }

    private string NewLine() => _text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";

    private static List<Table> Tables(DocumentSyntax doc)
    {
        var tables = new List<Table>();
        foreach (var table in doc.Tables)
        {
            if (table.Name is { } key)
            {
                tables.Add(new Table(table, KeyPath(key), table.Span.Start.Offset, table.Span.End.Offset + 1));
            }
        }

        return tables;
    }

    private static List<string> KeyPath(KeySyntax? key)
    {
        var path = new List<string>();
        if (key?.Key is { } first)
        {
            path.Add(KeyText(first));
        }

        if (key?.DotKeys is { } dots)
        {
            foreach (var dot in dots)
            {
                if (dot.Key is { } part)
                {
                    path.Add(KeyText(part));
                }
            }
        }

        return path;
    }

    private static string KeyText(BareKeyOrStringValueSyntax key) => key switch
    {
        BareKeySyntax bare => bare.Key?.Text ?? "",
        StringValueSyntax quoted => quoted.Value ?? "",
        _ => key.ToString() ?? "",
    };

    /// <summary>A table's key path and its span [Start, End) in the text: the header through its last line's line break.</summary>
    private sealed record Table(TableSyntaxBase Syntax, List<string> Path, int Start, int End);
}
