using System.Collections.Frozen;

namespace McpBroker.Catalog;

/// <summary>
/// BM25F over a tool's name, description, parameter names and descriptions, and its upstream's purpose and tags,
/// with a small table of synonyms for the verbs and nouns tool names use. A search touches only the postings of the
/// query's terms (and their synonyms) in each segment.
/// </summary>
internal sealed partial class SearchIndex
{
    /// <summary>How many weak matches a search shows when nothing matches better.</summary>
    private const int WeakShown = 3;

    private static readonly char[] s_wordSeparators = [' ', '\t', '\n', ',', '.', ';', ':', '?', '!', '"', '\'', '(', ')', '/'];

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
}
