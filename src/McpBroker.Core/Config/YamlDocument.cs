using System.Globalization;
using System.Text.RegularExpressions;
using Newtonsoft.Json.Linq;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace McpBroker.Config;

/// <summary>
/// A YAML document read into a JSON tree (so the JSON Schema can check it) plus the source position of every
/// node, keyed by its path (<c>upstreams.memory.args[0]</c>). Duplicate keys are errors, as are multiple documents.
/// Plain scalars follow the YAML 1.2 core schema (null, booleans, integers, floats); quoted scalars are strings.
/// </summary>
internal sealed partial class YamlDocument
{
    private readonly Dictionary<string, Mark> _marks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JToken> _anchors = new(StringComparer.Ordinal);

    private YamlDocument(JToken root) => Root = root;

    public JToken Root { get; private set; }

    /// <summary>False when the text is not YAML at all; duplicate keys still leave a usable document.</summary>
    public bool Readable { get; private set; } = true;

    public string Describe(string path) =>
        _marks.TryGetValue(path, out var mark) ? $"line {mark.Line}, column {mark.Column}" : "";

    public static YamlDocument Parse(string text, List<ConfigIssue> issues)
    {
        var doc = new YamlDocument(JValue.CreateNull());
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
            doc.Root = doc.ReadNode(parser, "", issues);
            parser.Consume<DocumentEnd>();
            if (!parser.Accept<StreamEnd>(out _))
            {
                issues.Add(ConfigIssue.Error("", "the file holds more than one YAML document; keep one"));
            }
        }
        catch (YamlException ex)
        {
            doc.Readable = false;
            issues.Add(ConfigIssue.Error("", $"not valid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}"));
        }

        return doc;
    }

    private JToken ReadNode(IParser parser, string path, List<ConfigIssue> issues)
    {
        var start = parser.Current!.Start;
        _marks.TryAdd(path, start);
        switch (parser.Current)
        {
            case AnchorAlias alias:
                parser.MoveNext();
                return _anchors.TryGetValue(alias.Value.Value, out var anchored) ? anchored.DeepClone() : JValue.CreateNull();
            case Scalar scalar:
                parser.MoveNext();
                return Remember(scalar.Anchor, ScalarToken(scalar));
            case SequenceStart seq:
            {
                parser.MoveNext();
                var array = new JArray();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    array.Add(ReadNode(parser, $"{path}[{array.Count}]", issues));
                }

                return Remember(seq.Anchor, array);
            }

            case MappingStart map:
            {
                parser.MoveNext();
                var obj = new JObject();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyMark = parser.Current!.Start;
                    var keyToken = ReadNode(parser, path + "#key", issues);
                    var key = keyToken.Type == JTokenType.Null ? "" : keyToken.ToString();
                    var childPath = path.Length == 0 ? key : $"{path}.{key}";
                    var value = ReadNode(parser, childPath, issues);
                    if (obj.ContainsKey(key))
                    {
                        issues.Add(ConfigIssue.Error(childPath,
                            $"duplicate key '{key}', again at line {keyMark.Line}; each key may appear once — merge the two entries"));
                        continue;
                    }

                    _marks[childPath] = keyMark;
                    obj[key] = value;
                }

                return Remember(map.Anchor, obj);
            }

            default:
                throw new YamlException(start, parser.Current.End, $"unexpected {parser.Current.GetType().Name}");
        }
    }

    private JToken Remember(AnchorName anchor, JToken token)
    {
        if (!anchor.IsEmpty)
        {
            _anchors[anchor.Value] = token;
        }

        return token;
    }

    private static JToken ScalarToken(Scalar scalar)
    {
        var v = scalar.Value;
        if (scalar.Style is not ScalarStyle.Plain || !scalar.Tag.IsEmpty)
        {
            return new JValue(v);
        }

        return v switch
        {
            "" or "~" or "null" or "Null" or "NULL" => JValue.CreateNull(),
            "true" or "True" or "TRUE" => new JValue(true),
            "false" or "False" or "FALSE" => new JValue(false),
            _ when IntegerRegex().IsMatch(v) && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => new JValue(l),
            _ when FloatRegex().IsMatch(v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => new JValue(d),
            _ => new JValue(v),
        };
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerRegex();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatRegex();
}
