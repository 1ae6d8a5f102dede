using System.Collections.Frozen;

namespace McpBroker.Catalog;

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
