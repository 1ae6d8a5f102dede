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

/// <summary>
/// Term frequencies of one term in one document, per field: name, summary (the description's first sentence),
/// parameter names, parameter descriptions, upstream (name, purpose, tags), details (the rest of the description).
/// </summary>
internal readonly record struct Posting(int Doc, float Name, float Summary, float Parameters, float ParameterDescriptions, float Upstream, float Details)
{
    public float this[int field] => field switch
    {
        0 => Name,
        1 => Summary,
        2 => Parameters,
        3 => ParameterDescriptions,
        4 => Upstream,
        _ => Details,
    };
}

/// <summary>
/// The postings of one upstream's tools. Built once when that upstream's tool list changes; the index over every
/// upstream is a cheap composition of segments, so a change re-indexes only the upstream that changed.
/// Raw term frequencies and field lengths are kept, and length normalisation uses the composed averages at query time.
/// </summary>
internal sealed class SearchSegment
{
    public const int Fields = 6;

    private SearchSegment(SearchDocument[] documents, FrozenDictionary<string, Posting[]> postings, int[][] lengths, string[][] nameTerms)
    {
        Documents = documents;
        NameTerms = nameTerms;
        UpstreamName = documents.Length == 0 ? "" : Plain(documents[0].Key[..Math.Max(0, documents[0].Key.IndexOf('.', StringComparison.Ordinal))]);
        Postings = postings;
        Lengths = lengths;
        LengthSums = [.. Enumerable.Range(0, Fields).Select(f => lengths.Sum(l => (long)l[f]))];
    }

    public SearchDocument[] Documents { get; }

    public FrozenDictionary<string, Posting[]> Postings { get; }

    /// <summary>
    /// Per document, the terms of its name that tell it apart from its siblings: without the words most of the
    /// upstream's tool names share (<c>browser_</c>, <c>kubectl_</c>, <c>maps_</c>, <c>API-</c>).
    /// </summary>
    public string[][] NameTerms { get; }

    /// <summary>The upstream's name (its tool prefix) as one plain word, so a request that names the upstream can prefer it.</summary>
    public string UpstreamName { get; }

    /// <summary>A description's first sentence (what the tool does) and the rest (how to use it, caveats).</summary>
    public static (string Summary, string Details) Summary(string? description)
    {
        var text = (description ?? "").Trim();
        var end = text.IndexOfAny(['\n']);
        var sentence = text.IndexOf(". ", StringComparison.Ordinal);
        var cut = end < 0 ? sentence : sentence < 0 ? end : Math.Min(end, sentence);
        return cut < 0 ? (text, "") : (text[..(cut + 1)], text[(cut + 1)..]);
    }

    /// <summary>Lower-case letters and digits only: "GitHub" and "git-hub" both read "github".</summary>
    public static string Plain(string text) => string.Concat(text.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant));

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
            var (summary, details) = Summary(doc.Description);
            List<string>[] fields =
            [
                TextTokens.Split(doc.Name),
                TextTokens.Split(summary),
                [.. doc.ParameterNames.SelectMany(TextTokens.Split)],
                [.. doc.ParameterDescriptions.SelectMany(TextTokens.Split)],
                [.. TextTokens.Split(doc.Key[..Math.Max(0, doc.Key.IndexOf('.', StringComparison.Ordinal))]), .. TextTokens.Split(doc.Purpose), .. doc.Tags.SelectMany(TextTokens.Split)],
                TextTokens.Split(details),
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

                list.Add(new Posting(d, tf[0], tf[1], tf[2], tf[3], tf[4], tf[5]));
            }
        }

        var names = docs.Select(d => TextTokens.Split(d.Name).Distinct(StringComparer.Ordinal).ToArray()).ToArray();
        var shared = docs.Length < 3
            ? []
            : names.SelectMany(n => n).GroupBy(t => t, StringComparer.Ordinal).Where(g => g.Count() * 2 >= docs.Length).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var nameTerms = names.Select(n => n.Where(t => !shared.Contains(t)).ToArray()).ToArray();
        return new SearchSegment(docs, postings.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal), lengths, nameTerms);
    }
}

/// <summary>
/// BM25F over a tool's name, description, parameter names and descriptions, and its upstream's purpose and tags,
/// with a small table of synonyms for the verbs and nouns tool names use. A search touches only the postings of the
/// query's terms (and their synonyms) in each segment.
/// </summary>
internal sealed class SearchIndex
{
    // Tuned on bench/search-eval (see docs/context-economy.md); a change here must keep ContextEconomyTests green.
    private const double K1 = 2.0;
    private static readonly char[] s_wordSeparators = [' ', '\t', '\n', ',', '.', ';', ':', '?', '!', '"', '\'', '(', ')', '/'];
    private const double SynonymWeight = 0.5;

    /// <summary>Up to this factor more for a tool that answers every word of the request.</summary>
    private const double Coverage = 1.0;

    /// <summary>Up to this factor more for a tool whose distinctive name words the request all asked for.</summary>
    private const double NameFit = 1.0;

    /// <summary>This factor more for the tools of an upstream the request names.</summary>
    private const double Named = 0.5;

    // Field weights and length normalisation: name, summary, parameter names, parameter descriptions, upstream,
    // details. A hit in the name says most about what a tool does; the long tail of a description says least.
    private static readonly (double Weight, double B)[] s_fields = [(3.0, 0.5), (1.5, 0.5), (1.2, 0.5), (0.4, 0.75), (1.5, 0.5), (0.6, 0.75)];

    // Groups of words that name the same action or thing in tool names, descriptions and requests. Generic
    // vocabulary of tools, not of any one server: a query word reaches every other word of its groups.
    private static readonly FrozenDictionary<string, string[]> s_synonyms = BuildSynonyms(
    [
        ["find", "search", "query", "lookup", "look", "list", "get", "fetch", "read", "retrieve", "show", "view", "see"],
        ["read", "open", "view", "load"],
        ["create", "add", "new", "insert", "make", "open", "post", "start", "leave"],
        ["create", "add", "write", "store", "save", "remember", "record", "keep"],
        ["delete", "remove", "drop", "erase", "forget", "clear", "destroy", "uninstall"],
        ["update", "edit", "modify", "change", "set", "patch", "replace", "rename", "close"],
        ["file", "document", "doc", "path", "content"],
        ["directory", "folder", "dir"],
        ["issue", "ticket", "bug"],
        ["repository", "repo", "project"],
        ["pull", "pr"],
        ["merge", "mr"],
        ["copy", "fork", "clone", "duplicate"],
        ["commit", "push", "history"],
        ["comment", "reply", "answer", "respond", "note"],
        ["message", "chat", "say", "send", "post"],
        ["review", "approve"],
        ["status", "check", "checks", "ci", "pass", "fail"],
        ["user", "users", "account", "member", "people", "team", "who"],
        ["memory", "remember", "knowledge", "recall", "graph"],
        ["entity", "person", "thing", "object", "node"],
        ["relation", "relationship", "link", "connection", "edge", "manage", "report"],
        ["observation", "fact", "detail"],
        ["run", "execute", "invoke", "call", "command", "shell"],
        ["sum", "add", "total", "plus", "number"],
        ["echo", "repeat", "back"],
        ["image", "photo", "picture", "media", "screenshot", "png", "jpg"],
        ["screenshot", "capture", "snapshot"],
        ["navigate", "go", "visit", "url", "browse", "page"],
        ["click", "press", "tap", "button"],
        ["type", "fill", "enter", "input", "form"],
        ["select", "choose", "option", "dropdown"],
        ["dialog", "popup", "alert", "confirm", "prompt", "accept", "dismiss"],
        ["console", "log", "logs", "error"],
        ["network", "request", "requests", "api"],
        ["hover", "mouse"],
        ["wait", "until", "appear"],
        ["javascript", "script", "evaluate", "code", "js"],
        ["resize", "size", "window", "viewport"],
        ["direction", "route", "drive", "travel", "way"],
        ["distance", "travel", "time", "far", "long"],
        ["geocode", "coordinate", "latitude", "longitude", "location"],
        ["address", "reverse"],
        ["elevation", "altitude", "height", "high", "sea"],
        ["place", "restaurant", "cafe", "shop", "business", "near", "nearby", "local"],
        ["detail", "hour", "rating", "review", "describe", "info", "information", "event"],
        ["web", "internet", "online", "news"],
        ["extract", "text", "article", "content", "scrape"],
        ["crawl", "site", "website", "map", "page"],
        ["research", "report", "deep", "investigate"],
        ["documentation", "docs", "library", "api", "reference"],
        ["database", "sql", "table", "row", "query", "order"],
        ["pod", "container", "deployment", "namespace", "cluster", "kubernetes", "k8s"],
        ["scale", "replica", "replicas"],
        ["rollback", "rollout", "undo", "revert", "back"],
        ["context", "cluster", "switch"],
        ["port", "forward", "tunnel"],
        ["block", "children", "append"],
        ["markdown", "md", "text"],
        ["move", "rename", "relocate"],
        ["info", "metadata", "modified", "size", "stat"],
        ["tree", "structure", "hierarchy"],
        ["allowed", "permitted", "access", "touch"],
        ["reaction", "emoji", "react", "thumb"],
        ["thread", "reply", "replies", "conversation"],
        ["channel", "room"],
        ["think", "reason", "step", "plan"],
        ["environment", "env", "variable"],
        ["progress", "long", "running", "operation", "task"],
        ["multiple", "several", "many", "three", "two"],
    ]);

    private readonly SearchSegment[] _segments;
    private readonly int[] _offsets;
    private readonly int _count;
    private readonly double[] _averages;
    private readonly FrozenDictionary<string, int[]> _segmentsByUpstream;

    // Per term, the segments that hold it with their postings and the term's document frequency: one lookup per
    // query term instead of one per segment. Merged once per composition (a list of references, no postings copied).
    private readonly Dictionary<string, (int Df, List<(int Segment, Posting[] Postings)> Lists)> _terms;

    // Per global document and field: the field's weight over its BM25 length normalisation, so scoring a posting is
    // a handful of multiply-adds.
    private readonly float[] _fieldFactors;

    private SearchIndex(SearchSegment[] segments)
    {
        _segments = segments;
        _offsets = new int[segments.Length];
        for (var s = 1; s < segments.Length; s++)
        {
            _offsets[s] = _offsets[s - 1] + segments[s - 1].Documents.Length;
        }

        _count = segments.Sum(s => s.Documents.Length);
        _averages = [.. Enumerable.Range(0, SearchSegment.Fields).Select(f => _count == 0 ? 1 : Math.Max(1, (double)segments.Sum(s => s.LengthSums[f]) / _count))];
        _terms = new Dictionary<string, (int, List<(int, Posting[])>)>(StringComparer.Ordinal);
        for (var s = 0; s < segments.Length; s++)
        {
            foreach (var (term, postings) in segments[s].Postings)
            {
                ref var entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_terms, term, out var exists);
                if (!exists)
                {
                    entry = (0, []);
                }

                entry.Lists.Add((s, postings));
                entry.Df += postings.Length;
            }
        }

        _fieldFactors = new float[_count * SearchSegment.Fields];
        for (var s = 0; s < segments.Length; s++)
        {
            for (var d = 0; d < segments[s].Documents.Length; d++)
            {
                var lengths = segments[s].Lengths[d];
                for (var f = 0; f < SearchSegment.Fields; f++)
                {
                    var (w, b) = s_fields[f];
                    _fieldFactors[((_offsets[s] + d) * SearchSegment.Fields) + f] = (float)(w / (1 - b + (b * lengths[f] / _averages[f])));
                }
            }
        }

        _segmentsByUpstream = Enumerable.Range(0, segments.Length)
            .Where(s => segments[s].UpstreamName.Length > 0)
            .GroupBy(s => segments[s].UpstreamName, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
    }

    public int Count => _count;

    /// <summary>An index over documents of any upstreams: one segment per upstream (key prefix), as the catalog builds it.</summary>
    public static SearchIndex Build(IEnumerable<SearchDocument> documents) =>
        Compose(documents.GroupBy(d => d.Key[..Math.Max(0, d.Key.IndexOf('.', StringComparison.Ordinal))], StringComparer.Ordinal).Select(SearchSegment.Build));

    public static SearchIndex Compose(IEnumerable<SearchSegment> segments) => new([.. segments]);

    /// <summary>The best matches for a query, best first; <paramref name="include"/> hides documents a caller may not see.</summary>
    public IReadOnlyList<SearchHit> Search(string query, int limit, Func<string, bool>? include = null)
    {
        var words = TextTokens.Split(query).Distinct(StringComparer.Ordinal).Take(64).ToList();
        var expansion = Expand(words);

        // Scores by global document number (segment offset + document), touched documents listed once.
        var scores = new double[_count];
        var covered = new ulong[_count];
        var touched = new List<int>();
        foreach (var (term, weight, word) in expansion)
        {
            if (!_terms.TryGetValue(term, out var entry))
            {
                continue;
            }

            var idf = Math.Log(1 + ((_count - entry.Df + 0.5) / (entry.Df + 0.5)));
            foreach (var (s, list) in entry.Lists)
            {
                var offset = _offsets[s];
                foreach (var posting in list)
                {
                    var doc = offset + posting.Doc;
                    var factors = _fieldFactors.AsSpan(doc * SearchSegment.Fields, SearchSegment.Fields);
                    double tf = (posting.Name * factors[0]) + (posting.Summary * factors[1]) + (posting.Parameters * factors[2])
                        + (posting.ParameterDescriptions * factors[3]) + (posting.Upstream * factors[4]) + (posting.Details * factors[5]);
                    if (covered[doc] == 0)
                    {
                        touched.Add(doc);
                    }

                    scores[doc] += weight * idf * tf * (K1 + 1) / (tf + K1);
                    covered[doc] |= 1UL << word;
                }
            }
        }

        // A tool that answers more of the request's words (itself or through a synonym) beats one that answers a
        // single word very well: "make a folder" wants create_directory over a tool that merely says "make".
        // A tool whose distinctive name words the request all asked for beats a sibling with words it did not ask
        // for: "the coordinates of the Eiffel Tower" wants maps_geocode, not maps_reverse_geocode.
        // A request that names an upstream ("on GitHub", "in Notion") prefers that upstream's tools.
        var asked = expansion.Select(e => e.Term).ToHashSet(StringComparer.Ordinal);
        var named = new HashSet<int>();
        foreach (var w in query.Split(s_wordSeparators, StringSplitOptions.RemoveEmptyEntries))
        {
            named.UnionWith(_segmentsByUpstream.GetValueOrDefault(SearchSegment.Plain(w)) ?? []);
        }

        var keys = new double[touched.Count];
        var docs = touched.ToArray();
        for (var i = 0; i < docs.Length; i++)
        {
            var (s, d) = Locate(docs[i]);
            var score = scores[docs[i]]
                * (1 + (Coverage * System.Numerics.BitOperations.PopCount(covered[docs[i]]) / words.Count))
                * (1 + (NameFit * Fit(_segments[s].NameTerms[d], asked)))
                * (named.Contains(s) ? 1 + Named : 1);
            keys[i] = -score;
        }

        Array.Sort(keys, docs);
        var hits = new List<SearchHit>(Math.Min(limit, docs.Length));
        for (var i = 0; i < docs.Length && hits.Count < limit; i++)
        {
            // Equal scores: the name decides, so results never depend on the order segments were composed in.
            var tied = i;
            while (tied + 1 < docs.Length && keys[tied + 1] == keys[i])
            {
                tied++;
            }

            foreach (var doc in docs[i..(tied + 1)].Select(KeyOf).Order(StringComparer.Ordinal))
            {
                if (hits.Count < limit && (include?.Invoke(doc) ?? true))
                {
                    hits.Add(new SearchHit(doc, Math.Round(-keys[i], 3)));
                }
            }

            i = tied;
        }

        return hits;
    }

    private (int Segment, int Doc) Locate(int doc)
    {
        var s = Array.BinarySearch(_offsets, doc);
        if (s < 0)
        {
            s = ~s - 1;
        }

        // Empty segments share an offset with the next one: step to the segment that holds the document.
        while (s + 1 < _segments.Length && _offsets[s + 1] <= doc)
        {
            s++;
        }

        return (s, doc - _offsets[s]);
    }

    private string KeyOf(int doc)
    {
        var (s, d) = Locate(doc);
        return _segments[s].Documents[d].Key;
    }

    /// <summary>The share of a tool's distinctive name words the request asked for (itself or through a synonym).</summary>
    private static double Fit(string[] nameTerms, HashSet<string> asked) =>
        nameTerms.Length == 0 ? 0 : (double)nameTerms.Count(asked.Contains) / nameTerms.Length;

    /// <summary>
    /// Each query word with weight 1, and its synonyms with a lower weight (a synonym never outranks the word itself),
    /// each tagged with the index of the word it stands for.
    /// </summary>
    private static List<(string Term, double Weight, int Word)> Expand(List<string> words)
    {
        var expanded = new Dictionary<string, (double Weight, int Word)>(StringComparer.Ordinal);
        for (var i = 0; i < words.Count; i++)
        {
            expanded[words[i]] = (1, i);
        }

        for (var i = 0; i < words.Count; i++)
        {
            foreach (var synonym in s_synonyms.GetValueOrDefault(words[i]) ?? [])
            {
                expanded.TryAdd(synonym, (SynonymWeight, i));
            }
        }

        return [.. expanded.Select(e => (e.Key, e.Value.Weight, e.Value.Word))];
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
