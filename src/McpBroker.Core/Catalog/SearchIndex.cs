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

/// <summary>
/// One match: its score, the request's words it matched (as the request wrote them, itself or through a synonym), and
/// whether its upstream is one the request named.
/// </summary>
internal readonly record struct SearchHit(string Key, double Score)
{
    public IReadOnlyList<string> Matched { get; init; } = [];

    public bool Named { get; init; }

    /// <summary>The share of the request's weight the match answers (see <see cref="SearchTuning.MinRelevance"/>).</summary>
    public double Relevance { get; init; }

    /// <summary>The match answers one word of a request of three or more: the closest by a shared word, no more.</summary>
    public bool Weak { get; init; }
}

/// <summary>
/// The ranking's constants, fixed by the evaluation's dev half (docs/context-economy.md says how each was chosen).
/// A record so the bench can fit them on dev; the broker uses <see cref="Default"/>.
/// </summary>
internal sealed record SearchTuning
{
    public static SearchTuning Default { get; } = new();

    /// <summary>BM25's term-frequency saturation.</summary>
    public double K1 { get; init; } = 2.0;

    /// <summary>Weight and length normalisation per field: name, summary, parameter names, parameter descriptions, upstream, details.</summary>
    public IReadOnlyList<(double Weight, double B)> Fields { get; init; } = [(3.0, 0.5), (2.0, 0.5), (1.2, 0.5), (0.4, 0.75), (1.5, 0.5), (0.6, 0.75)];

    /// <summary>A synonym's weight beside the word itself.</summary>
    public double SynonymWeight { get; init; } = 0.1;

    /// <summary>Up to this factor more for a tool that answers every word of the request.</summary>
    public double Coverage { get; init; } = 1.33;

    /// <summary>Up to this factor more for a tool whose distinctive name words the request all asked for.</summary>
    public double NameFit { get; init; } = 0.5;

    /// <summary>This factor more for the tools of an upstream the request names.</summary>
    public double Named { get; init; } = 0.5;

    /// <summary>Whether the tools of an upstream the request names come before every other upstream's.</summary>
    public bool NamedFirst { get; init; } = true;

    /// <summary>
    /// With <see cref="NamedFirst"/>, only a named upstream's tools scoring at least this share of the best match come
    /// first: a word that names an upstream in passing ("what's using memory on the page") does not bury the tool asked for.
    /// </summary>
    public double NamedFloor { get; init; } = 0.5;

    /// <summary>
    /// A word still names an upstream's system when the tools of at most this many other upstreams use it
    /// ("gitlab" does; "search", "maps" and "memory" are the vocabulary of many).
    /// </summary>
    public int NameSharedBy { get; init; } = 2;

    /// <summary>
    /// Whether an upstream's own name always names it, however many other upstreams' tools use the word ("memory",
    /// "filesystem"); when false it obeys <see cref="NameSharedBy"/> like the other names.
    /// </summary>
    public bool OwnNameNames { get; init; } = true;

    /// <summary>
    /// Whether a word found only in the upstream's name, purpose or tags counts as answered by the tool (for coverage,
    /// relevance and the words a match shows). Those words are the same for every tool of the upstream, so they tell
    /// its tools apart no better than they tell the upstream from the others.
    /// </summary>
    public bool UpstreamCovers { get; init; } = true;

    /// <summary>
    /// The least share of the request's weight (each word weighs its IDF) a match must answer to be returned; 0 returns
    /// everything that shares a word.
    /// </summary>
    public double MinRelevance { get; init; }

    /// <summary>
    /// Whether matches that answer one word of a request of three or more are marked weak, and at most three shown
    /// when nothing matches better.
    /// </summary>
    public bool MarkWeak { get; init; } = true;

}

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
        var upstream = documents.Length == 0 ? "" : documents[0].Key[..Math.Max(0, documents[0].Key.IndexOf('.', StringComparison.Ordinal))];
        UpstreamName = Plain(upstream);
        SystemNames = documents.Length == 0 ? [] : NamesOf(upstream, documents[0].Purpose);
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

    /// <summary>
    /// The words a request may use to name the system behind this upstream, as plain words: the upstream's name
    /// (<c>gitlab-zereight</c>), each of its parts (<c>gitlab</c>), and the proper names its purpose uses ("Jira issues",
    /// "search with Brave"), single and run together ("Google Drive" → <c>googledrive</c>). Which of them still name it
    /// when other upstreams' tools use the same word is decided over the composed index.
    /// </summary>
    public string[] SystemNames { get; }

    private static string[] NamesOf(string upstream, string? purpose)
    {
        var names = new HashSet<string>(StringComparer.Ordinal) { Plain(upstream) };
        names.UnionWith(upstream.Split(['-', '_', '.'], StringSplitOptions.RemoveEmptyEntries).Select(Plain).Where(p => p.Length >= 3));
        var words = (purpose ?? "").Split([' ', ',', ':', ';', '(', ')', '/'], StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < words.Length; i++)
        {
            if (words[i].Length > 1 && char.IsUpper(words[i][0]) && words[i].Skip(1).Any(char.IsLetter))
            {
                names.Add(Plain(words[i]));
                if (i + 1 < words.Length && words[i + 1].Length > 1 && char.IsUpper(words[i + 1][0]))
                {
                    names.Add(Plain(words[i] + words[i + 1]));
                }
            }
        }

        names.Remove("");
        return [.. names.Order(StringComparer.Ordinal)];
    }

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
    /// <summary>How many weak matches a search shows when nothing matches better.</summary>
    private const int WeakShown = 3;

    private static readonly char[] s_wordSeparators = [' ', '\t', '\n', ',', '.', ';', ':', '?', '!', '"', '\'', '(', ')', '/'];

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
    private readonly SearchTuning _tuning;

    // Per global document, the segment that holds it.
    private readonly int[] _segmentOf;

    // Per plain word, the segments whose system the word names (see SearchSegment.SystemNames).
    private readonly FrozenDictionary<string, int[]> _segmentsByName;

    // Per term, the segments that hold it with their postings and the term's document frequency: one lookup per
    // query term instead of one per segment. Merged once per composition (a list of references, no postings copied).
    private readonly Dictionary<string, (int Df, List<(int Segment, Posting[] Postings)> Lists)> _terms;

    // Per global document and field: the field's weight over its BM25 length normalisation, so scoring a posting is
    // a handful of multiply-adds.
    private readonly float[] _fieldFactors;

    private SearchIndex(SearchSegment[] segments, SearchTuning tuning)
    {
        _segments = segments;
        _tuning = tuning;
        _offsets = new int[segments.Length];
        for (var s = 1; s < segments.Length; s++)
        {
            _offsets[s] = _offsets[s - 1] + segments[s - 1].Documents.Length;
        }

        _count = segments.Sum(s => s.Documents.Length);
        _segmentOf = new int[_count];
        for (var s = 0; s < segments.Length; s++)
        {
            Array.Fill(_segmentOf, s, _offsets[s], segments[s].Documents.Length);
        }

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
                    var (w, b) = tuning.Fields[f];
                    _fieldFactors[((_offsets[s] + d) * SearchSegment.Fields) + f] = (float)(w / (1 - b + (b * lengths[f] / _averages[f])));
                }
            }
        }

        // A word names an upstream's system while few other upstreams' tools use it: the upstream's own name always does.
        var claims = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var s = 0; s < segments.Length; s++)
        {
            foreach (var name in segments[s].SystemNames)
            {
                (claims.TryGetValue(name, out var list) ? list : claims[name] = []).Add(s);
            }
        }

        _segmentsByName = claims
            .Select(c => (Name: c.Key, Segments: c.Value.Where(s => (tuning.OwnNameNames && segments[s].UpstreamName == c.Key) || SharedBy(c.Key, c.Value) <= tuning.NameSharedBy).ToArray()))
            .Where(c => c.Segments.Length > 0)
            .ToFrozenDictionary(c => c.Name, c => c.Segments, StringComparer.Ordinal);
    }

    /// <summary>How many upstreams, other than <paramref name="own"/>, have tools that use the word.</summary>
    private int SharedBy(string word, List<int> own) =>
        _terms.TryGetValue(TextTokens.Stem(word), out var entry) ? entry.Lists.Select(l => l.Segment).Distinct().Count(s => !own.Contains(s)) : 0;

    public int Count => _count;

    /// <summary>An index over documents of any upstreams: one segment per upstream (key prefix), as the catalog builds it.</summary>
    public static SearchIndex Build(IEnumerable<SearchDocument> documents, SearchTuning? tuning = null) =>
        Compose(documents.GroupBy(d => d.Key[..Math.Max(0, d.Key.IndexOf('.', StringComparison.Ordinal))], StringComparer.Ordinal).Select(SearchSegment.Build), tuning);

    public static SearchIndex Compose(IEnumerable<SearchSegment> segments, SearchTuning? tuning = null) => new([.. segments], tuning ?? SearchTuning.Default);

    /// <summary>
    /// The best matches for a query, best first; <paramref name="include"/> hides documents a caller may not see.
    /// Only matches that answer enough of the request are returned (<see cref="SearchTuning.MinRelevance"/>): an empty
    /// list means nothing matches it well, not that the limit was filled with tools sharing one word.
    /// </summary>
    public IReadOnlyList<SearchHit> Search(string query, int limit, Func<string, bool>? include = null)
    {
        var tokens = TextTokens.Words(query).DistinctBy(t => t.Term, StringComparer.Ordinal).Take(64).ToList();
        var words = tokens.Select(t => t.Term).ToList();
        var expansion = Expand(words);
        var k1 = _tuning.K1;
        var upstreamCovers = _tuning.UpstreamCovers;

        // Each word weighs its IDF in the request; a word no tool uses weighs the most (the request asks for something
        // nothing here has).
        var weights = words.Select(w => Idf(_terms.TryGetValue(w, out var e) ? e.Df : 0)).ToArray();
        var total = weights.Sum();

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

            var idf = Idf(entry.Df);
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

                    scores[doc] += weight * idf * tf * (k1 + 1) / (tf + k1);
                    if (upstreamCovers || posting.Upstream == 0 || posting.Name + posting.Summary + posting.Parameters + posting.ParameterDescriptions + posting.Details > 0)
                    {
                        covered[doc] |= 1UL << word;
                    }
                }
            }
        }

        // A tool that answers more of the request's words (itself or through a synonym) beats one that answers a
        // single word very well: "make a folder" wants create_directory over a tool that merely says "make".
        // A tool whose distinctive name words the request all asked for beats a sibling with words it did not ask
        // for: "the coordinates of the Eiffel Tower" wants maps_geocode, not maps_reverse_geocode.
        // A request that names an upstream's system ("on GitHub", "in Notion", "with desktop commander") prefers that
        // upstream's tools, and with NamedFirst shows them before any other upstream's lookalikes.
        var asked = expansion.Select(e => e.Term).ToHashSet(StringComparer.Ordinal);
        var named = Named(query);
        var docs = touched.ToArray();
        var keys = new double[docs.Length];
        var relevance = new double[docs.Length];
        var best = 0.0;
        for (var i = 0; i < docs.Length; i++)
        {
            var doc = docs[i];
            var (s, d) = Locate(doc);
            var answered = 0.0;
            for (var w = 0; w < words.Count; w++)
            {
                answered += (covered[doc] & (1UL << w)) != 0 ? weights[w] : 0;
            }

            relevance[i] = total > 0 ? answered / total : 0;
            var score = relevance[i] < _tuning.MinRelevance ? 0 : scores[doc]
                * (1 + (_tuning.Coverage * System.Numerics.BitOperations.PopCount(covered[doc]) / words.Count))
                * (1 + (_tuning.NameFit * Fit(_segments[s].NameTerms[d], asked)))
                * (named.Contains(s) ? 1 + _tuning.Named : 1);
            keys[i] = Math.Round(score, 3);
            best = Math.Max(best, keys[i]);
        }

        // A named upstream whose best match scores at least NamedFloor of the best overall is what the request is
        // about: all its matches come first (their keys lifted above every other). One named in passing, with nothing
        // that matches well, keeps its place.
        var first = new HashSet<int>();
        for (var i = 0; _tuning.NamedFirst && named.Count > 0 && i < docs.Length; i++)
        {
            if (keys[i] >= best * _tuning.NamedFloor && keys[i] > 0 && Locate(docs[i]).Segment is var s && named.Contains(s))
            {
                first.Add(s);
            }
        }

        var order = new int[docs.Length];
        var sortKeys = new double[docs.Length];
        for (var i = 0; i < docs.Length; i++)
        {
            order[i] = i;
            sortKeys[i] = -(keys[i] + (first.Count > 0 && first.Contains(Locate(docs[i]).Segment) ? best + 1 : 0));
        }

        Array.Sort(sortKeys, order);

        // A match that answers a single word of a longer request is weak ("book a flight to Tokyo next Friday" and a
        // tool that says "next"). Weak matches are marked; when nothing else matches, only a few are shown, so the
        // caller can say nothing matches the request well instead of filling the list.
        bool Weak(int i) => _tuning.MarkWeak && words.Count >= 3 && System.Numerics.BitOperations.PopCount(covered[docs[i]]) <= 1;
        bool Visible(int i) => keys[i] > 0 && (include?.Invoke(KeyOf(docs[i])) ?? true);
        var anyStrong = false;
        foreach (var i in order)
        {
            if (!Weak(i) && Visible(i))
            {
                anyStrong = true;
                break;
            }
        }

        var shown = anyStrong ? limit : Math.Min(limit, WeakShown);
        var hits = new List<SearchHit>(Math.Min(shown, docs.Length));
        for (var n = 0; n < order.Length && hits.Count < shown; n++)
        {
            // Equal keys: the name decides, so results never depend on the order segments were composed in.
            var tied = n;
            while (tied + 1 < order.Length && sortKeys[tied + 1] == sortKeys[n])
            {
                tied++;
            }

            foreach (var i in order[n..(tied + 1)].OrderBy(i => KeyOf(docs[i]), StringComparer.Ordinal))
            {
                if (hits.Count == shown || !Visible(i))
                {
                    continue;
                }

                hits.Add(new SearchHit(KeyOf(docs[i]), keys[i])
                {
                    Matched = [.. tokens.Where((_, w) => (covered[docs[i]] & (1UL << w)) != 0).Select(t => t.Surface)],
                    Named = named.Contains(Locate(docs[i]).Segment),
                    Relevance = Math.Round(relevance[i], 3),
                    Weak = Weak(i),
                });
            }

            n = tied;
        }

        return hits;
    }

    /// <summary>The segments whose system the request names: one word or two run together ("GitLab", "google drive").</summary>
    private HashSet<int> Named(string query)
    {
        var named = new HashSet<int>();
        var plain = query.Split(s_wordSeparators, StringSplitOptions.RemoveEmptyEntries).Select(SearchSegment.Plain).Where(w => w.Length > 0).ToArray();
        for (var i = 0; i < plain.Length; i++)
        {
            named.UnionWith(_segmentsByName.GetValueOrDefault(plain[i]) ?? []);
            if (i + 1 < plain.Length)
            {
                named.UnionWith(_segmentsByName.GetValueOrDefault(plain[i] + plain[i + 1]) ?? []);
            }
        }

        return named;
    }

    private double Idf(int df) => Math.Log(1 + ((_count - df + 0.5) / (df + 0.5)));

    private (int Segment, int Doc) Locate(int doc) => (_segmentOf[doc], doc - _offsets[_segmentOf[doc]]);

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
    private List<(string Term, double Weight, int Word)> Expand(List<string> words)
    {
        var synonymWeight = _tuning.SynonymWeight;
        var expanded = new Dictionary<string, (double Weight, int Word)>(StringComparer.Ordinal);
        for (var i = 0; i < words.Count; i++)
        {
            expanded[words[i]] = (1, i);
        }

        for (var i = 0; i < words.Count; i++)
        {
            foreach (var synonym in s_synonyms.GetValueOrDefault(words[i]) ?? [])
            {
                expanded.TryAdd(synonym, (synonymWeight, i));
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
