using System.Collections.Frozen;
using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>One searchable tool: its fields as the ranking sees them.</summary>
internal sealed record SearchDocument(
    string Key,
    string Name,
    string? Description,
    IReadOnlyList<string> ParameterNames,
    string? Purpose,
    IReadOnlyList<string> Tags)
{
    /// <summary>The descriptions of the tool's parameters.</summary>
    public IReadOnlyList<string> ParameterDescriptions { get; init; } = [];

    /// <summary>What the index reads of a tool: its name, title and description, and its parameters' names and descriptions.</summary>
    public static SearchDocument From(string key, Tool tool, string? purpose, IReadOnlyList<string> tags)
    {
        var parameters = tool.InputSchema.ValueKind == JsonValueKind.Object && tool.InputSchema.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object
            ? props.EnumerateObject().ToList()
            : [];
        return new SearchDocument(key, tool.Name, tool.Title is { } title ? $"{title}. {tool.Description}" : tool.Description,
            [.. parameters.Select(p => p.Name)], purpose, tags)
        {
            ParameterDescriptions = [.. parameters
                .Where(p => p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String)
                .Select(p => p.Value.GetProperty("description").GetString()!)],
        };
    }
}

internal readonly record struct SearchHit(string Key, double Score);

/// <summary>Term frequencies of one term in one document, per field (name, description, parameters, parameter descriptions, upstream).</summary>
internal readonly record struct Posting(int Doc, float Name, float Description, float Parameters, float ParameterDescriptions, float Upstream)
{
    public float this[int field] => field switch
    {
        0 => Name,
        1 => Description,
        2 => Parameters,
        3 => ParameterDescriptions,
        _ => Upstream,
    };
}

/// <summary>
/// The postings of one upstream's tools. Built once when that upstream's tool list changes; the index over every
/// upstream is a cheap composition of segments, so a change re-indexes only the upstream that changed.
/// Raw term frequencies and field lengths are kept, and length normalisation uses the composed averages at query time.
/// </summary>
internal sealed class SearchSegment
{
    public const int Fields = 5;

    private SearchSegment(SearchDocument[] documents, FrozenDictionary<string, Posting[]> postings, int[][] lengths)
    {
        Documents = documents;
        Postings = postings;
        Lengths = lengths;
        LengthSums = [.. Enumerable.Range(0, Fields).Select(f => lengths.Sum(l => (long)l[f]))];
    }

    public SearchDocument[] Documents { get; }

    public FrozenDictionary<string, Posting[]> Postings { get; }

    /// <summary>Per document, the number of terms in each field.</summary>
    public int[][] Lengths { get; }

    public long[] LengthSums { get; }

    public static SearchSegment Build(IEnumerable<SearchDocument> documents)
    {
        var docs = documents.ToArray();
        var postings = new Dictionary<string, List<Posting>>(StringComparer.Ordinal);
        var lengths = new int[docs.Length][];
        for (var d = 0; d < docs.Length; d++)
        {
            var doc = docs[d];
            List<string>[] fields =
            [
                TextTokens.Split(doc.Name),
                TextTokens.Split(doc.Description),
                [.. doc.ParameterNames.SelectMany(TextTokens.Split)],
                [.. doc.ParameterDescriptions.SelectMany(TextTokens.Split)],
                [.. TextTokens.Split(doc.Purpose), .. doc.Tags.SelectMany(TextTokens.Split)],
            ];
            lengths[d] = [.. fields.Select(f => f.Count)];
            var counts = new Dictionary<string, float[]>(StringComparer.Ordinal);
            for (var f = 0; f < Fields; f++)
            {
                foreach (var term in fields[f])
                {
                    if (!counts.TryGetValue(term, out var tf))
                    {
                        counts[term] = tf = new float[Fields];
                    }

                    tf[f]++;
                }
            }

            foreach (var (term, tf) in counts)
            {
                if (!postings.TryGetValue(term, out var list))
                {
                    postings[term] = list = [];
                }

                list.Add(new Posting(d, tf[0], tf[1], tf[2], tf[3], tf[4]));
            }
        }

        return new SearchSegment(docs, postings.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal), lengths);
    }
}

/// <summary>
/// BM25F over a tool's name, description, parameter names and descriptions, and its upstream's purpose and tags,
/// with a small table of synonyms for the verbs and nouns tool names use. A search touches only the postings of the
/// query's terms (and their synonyms) in each segment.
/// </summary>
internal sealed class SearchIndex
{
    private const double K1 = 1.2;

    // Field weights and length normalisation: a hit in the name says most about what a tool does.
    private static readonly (double Weight, double B)[] s_fields = [(3.0, 0.5), (1.0, 0.75), (1.2, 0.5), (0.4, 0.75), (0.8, 0.5)];

    private static readonly FrozenDictionary<string, string[]> s_synonyms = BuildSynonyms(
    [
        ["find", "search", "query", "lookup", "list", "get", "fetch", "read", "retrieve", "show"],
        ["create", "add", "new", "insert", "make", "write", "store", "save", "remember", "record"],
        ["delete", "remove", "drop", "erase", "forget", "clear"],
        ["update", "edit", "modify", "change", "set", "patch"],
        ["file", "document", "doc", "path"],
        ["directory", "folder", "dir"],
        ["issue", "ticket", "bug"],
        ["memory", "remember", "knowledge", "note", "recall"],
        ["entity", "person", "people", "thing", "object", "node"],
        ["relation", "relationship", "link", "connection", "edge"],
        ["observation", "fact", "detail", "like"],
        ["run", "execute", "invoke", "call"],
        ["sum", "add", "total", "plus"],
        ["echo", "repeat"],
    ]);

    private readonly SearchSegment[] _segments;
    private readonly int _count;
    private readonly double[] _averages;

    private SearchIndex(SearchSegment[] segments)
    {
        _segments = segments;
        _count = segments.Sum(s => s.Documents.Length);
        _averages = [.. Enumerable.Range(0, SearchSegment.Fields).Select(f => _count == 0 ? 1 : Math.Max(1, (double)segments.Sum(s => s.LengthSums[f]) / _count))];
    }

    public int Count => _count;

    public static SearchIndex Build(IEnumerable<SearchDocument> documents) => Compose([SearchSegment.Build(documents)]);

    public static SearchIndex Compose(IEnumerable<SearchSegment> segments) => new([.. segments]);

    /// <summary>The best matches for a query, best first; <paramref name="include"/> hides documents a caller may not see.</summary>
    public IReadOnlyList<SearchHit> Search(string query, int limit, Func<string, bool>? include = null)
    {
        var scores = new Dictionary<(int Segment, int Doc), double>();
        foreach (var (term, weight) in Expand(TextTokens.Split(query)))
        {
            var df = 0;
            foreach (var segment in _segments)
            {
                df += segment.Postings.GetValueOrDefault(term)?.Length ?? 0;
            }

            if (df == 0)
            {
                continue;
            }

            var idf = Math.Log(1 + ((_count - df + 0.5) / (df + 0.5)));
            for (var s = 0; s < _segments.Length; s++)
            {
                var segment = _segments[s];
                if (!segment.Postings.TryGetValue(term, out var list))
                {
                    continue;
                }

                foreach (var posting in list)
                {
                    var lengths = segment.Lengths[posting.Doc];
                    var tf = 0.0;
                    for (var f = 0; f < SearchSegment.Fields; f++)
                    {
                        if (posting[f] > 0)
                        {
                            var (w, b) = s_fields[f];
                            tf += w * posting[f] / (1 - b + (b * lengths[f] / _averages[f]));
                        }
                    }

                    var key = (s, posting.Doc);
                    scores[key] = scores.GetValueOrDefault(key) + (weight * idf * tf * (K1 + 1) / (tf + K1));
                }
            }
        }

        return scores
            .Select(p => (Key: _segments[p.Key.Segment].Documents[p.Key.Doc].Key, Score: p.Value))
            .Where(p => include?.Invoke(p.Key) ?? true)
            .OrderByDescending(p => p.Score)
            .ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(limit)
            .Select(p => new SearchHit(p.Key, Math.Round(p.Score, 3)))
            .ToList();
    }

    /// <summary>Query terms with weight 1, their synonyms with weight 0.5 (a synonym never outranks the word itself).</summary>
    private static Dictionary<string, double> Expand(List<string> terms)
    {
        var expanded = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var term in terms)
        {
            expanded[term] = 1;
        }

        foreach (var term in terms)
        {
            foreach (var synonym in s_synonyms.GetValueOrDefault(term) ?? [])
            {
                expanded.TryAdd(synonym, 0.5);
            }
        }

        return expanded;
    }

    private static FrozenDictionary<string, string[]> BuildSynonyms(string[][] groups)
    {
        var map = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var stems = group.Select(TextTokens.Stem).ToArray();
            foreach (var word in stems)
            {
                if (!map.TryGetValue(word, out var set))
                {
                    map[word] = set = [];
                }

                set.UnionWith(stems.Where(s => s != word));
            }
        }

        return map.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
    }
}
