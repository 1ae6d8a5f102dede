using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace McpBroker.Config;

/// <summary>
/// A YAML document read into a JSON tree (so the JSON Schema can check it) plus the source position of every
/// node, keyed by its path (<c>upstreams.memory.args[0]</c>). Duplicate keys are errors, as are multiple documents.
/// Plain scalars follow the YAML 1.2 core schema (null, booleans, integers as <c>long</c>, floats as <c>double</c>);
/// quoted scalars are strings. JSON null is a null node.
/// </summary>
internal sealed partial class YamlDocument
{
    private readonly Dictionary<string, Mark> _marks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (JsonNode? Node, int Size)> _anchors = new(StringComparer.Ordinal);
    private int _nodes;

    /// <summary>
    /// The most nodes a document may hold once its aliases are expanded: a broker config has hundreds; a few hundred
    /// bytes of nested aliases (an "alias bomb") would otherwise expand to billions and take the machine's memory.
    /// </summary>
    public const int MaxNodes = 100_000;

    /// <summary>The deepest nesting read (the reader recurses; a config nests a handful of levels).</summary>
    public const int MaxDepth = 64;

    private YamlDocument()
    {
    }

    public JsonNode? Root { get; private set; }

    /// <summary>False when the text is not YAML at all; duplicate keys still leave a usable document.</summary>
    public bool Readable { get; private set; } = true;

    public string Describe(string path) =>
        _marks.TryGetValue(path, out var mark) ? $"line {mark.Line}, column {mark.Column}" : "";

    public static YamlDocument Parse(string text, List<ConfigIssue> issues)
    {
        var doc = new YamlDocument();
        try
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
            {
                doc.Readable = false;
                issues.Add(ConfigIssue.Error("", "the file is empty; start with 'schema_version: 1' (mcp-broker config init writes a starter)"));
                return doc;
            }

            parser.Consume<DocumentStart>();
            doc.Root = doc.ReadNode(parser, "", issues, depth: 0);
            parser.Consume<DocumentEnd>();
            if (!parser.Accept<StreamEnd>(out _))
            {
                issues.Add(ConfigIssue.Error("", "the file holds more than one YAML document; keep one"));
            }
        }
        catch (Exception ex) when (ex is YamlException || (ex is InvalidOperationException or ArgumentException && ex.StackTrace?.Contains("YamlDotNet", StringComparison.Ordinal) == true))
        {
            // YamlDotNet's scanner throws InvalidOperationException on some unclosed brackets, and ArgumentException on a
            // tag that is no URI ("!!btrue…["), without a position.
            doc.Readable = false;
            issues.Add(ConfigIssue.Error("", YamlSyntax.Explain(text, ex)));
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this on some broken flow collections (e.g. ["*"]p) instead of a YamlException.
            doc.Readable = false;
            var near = doc._marks.Count == 0 ? "" : $" after line {doc._marks.Values.Max(m => m.Line)}";
            issues.Add(ConfigIssue.Error("", $"not valid YAML{near}: the reader stopped; check the brackets, braces and quotes there"));
        }

        return doc;
    }

    private JsonNode? ReadNode(IParser parser, string path, List<ConfigIssue> issues, int depth)
    {
        var start = parser.Current!.Start;
        if (depth > MaxDepth)
        {
            throw new YamlException(start, parser.Current.End, $"the document nests deeper than {MaxDepth} levels; a broker config needs a handful");
        }

        _marks.TryAdd(path, start);
        var before = _nodes;
        switch (parser.Current)
        {
            case AnchorAlias alias:
                parser.MoveNext();
                if (!_anchors.TryGetValue(alias.Value.Value, out var anchored))
                {
                    return null;
                }

                Count(start, parser, anchored.Size, $"alias *{alias.Value.Value}");
                return anchored.Node?.DeepClone();
            case Scalar scalar:
                parser.MoveNext();
                Count(start, parser, 1, "");
                return Remember(scalar.Anchor, ScalarToken(scalar), before);
            case SequenceStart seq:
            {
                parser.MoveNext();
                Count(start, parser, 1, "");
                var array = new JsonArray();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    array.Add(ReadNode(parser, $"{path}[{array.Count}]", issues, depth + 1));
                }

                return Remember(seq.Anchor, array, before);
            }

            case MappingStart map:
            {
                parser.MoveNext();
                Count(start, parser, 1, "");
                var obj = new JsonObject();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyMark = parser.Current!.Start;
                    var key = KeyText(ReadNode(parser, path + "#key", issues, depth + 1));
                    var childPath = path.Length == 0 ? key : $"{path}.{key}";
                    var value = ReadNode(parser, childPath, issues, depth + 1);
                    if (obj.ContainsKey(key))
                    {
                        issues.Add(ConfigIssue.Error(childPath,
                            $"duplicate key '{key}', again at line {keyMark.Line}; each key may appear once — merge the two entries"));
                        continue;
                    }

                    _marks[childPath] = keyMark;
                    obj[key] = value;
                }

                return Remember(map.Anchor, obj, before);
            }

            default:
                throw new YamlException(start, parser.Current.End, $"unexpected {parser.Current.GetType().Name}");
        }
    }

    /// <summary>Adds <paramref name="size"/> nodes to the document's count, refusing it past <see cref="MaxNodes"/>.</summary>
    private void Count(Mark start, IParser parser, int size, string what)
    {
        _nodes += size;
        if (_nodes > MaxNodes)
        {
            throw new YamlException(start, parser.Current?.End ?? start,
                $"the document expands to more than {MaxNodes:N0} values{(what.Length == 0 ? "" : $" at {what}")}; a broker config has a few hundred — write values out instead of nesting aliases");
        }
    }

    /// <param name="before">The node count before <paramref name="token"/> was read: an alias to it adds the difference.</param>
    private JsonNode? Remember(AnchorName anchor, JsonNode? token, int before)
    {
        if (!anchor.IsEmpty)
        {
            _anchors[anchor.Value] = (token, _nodes - before);
        }

        return token;
    }

    private static JsonNode? ScalarToken(Scalar scalar)
    {
        var v = scalar.Value;
        if (scalar.Style is not ScalarStyle.Plain || !scalar.Tag.IsEmpty)
        {
            return JsonValue.Create(v);
        }

        return v switch
        {
            "" or "~" or "null" or "Null" or "NULL" => null,
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            _ when IntegerRegex().IsMatch(v) && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            _ when FloatRegex().IsMatch(v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
            _ => JsonValue.Create(v),
        };
    }

    /// <summary>
    /// A key as text, spelled as the config has always read it (Json.NET's <c>ToString</c> of the key's token):
    /// <c>true</c> is <c>True</c>, numbers in invariant culture, a mapping or list used as a key its indented JSON.
    /// </summary>
    private static string KeyText(JsonNode? key) => key switch
    {
        null => "",
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonValue value when value.TryGetValue<bool>(out var flag) => flag ? "True" : "False",
        JsonValue value when value.TryGetValue<long>(out var number) => number.ToString(CultureInfo.InvariantCulture),
        JsonValue value when value.TryGetValue<double>(out var number) => number.ToString(CultureInfo.InvariantCulture),
        _ => ConfigSchema.IndentedJson(key),
    };

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerRegex();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatRegex();
}
