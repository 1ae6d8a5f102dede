using System.Collections.Frozen;

namespace McpBroker.Catalog;

/// <summary>One searchable tool: its fields as the ranking sees them.</summary>
internal sealed record SearchDocument(
    string Key,
    string Name,
    string? Description,
    IReadOnlyList<string> ParameterNames,
    string? Purpose,
    IReadOnlyList<string> Tags);

internal readonly record struct SearchHit(string Key, double Score);

/// <summary>
/// BM25F over a tool's name, description, parameter names and its upstream's purpose and tags, with a small
/// table of synonyms for the verbs and nouns tool names use. Built once per catalog change; a search touches
/// only the postings of the query's terms.
/// </summary>
internal sealed class SearchIndex
{
    private const double K1 = 1.2;

    // Field weights and length normalisation: a hit in the name says most about what a tool does.
    private static readonly (double Weight, double B)[] s_fields = [(3.0, 0.5), (1.0, 0.75), (1.2, 0.5), (0.8, 0.5)];

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

    private readonly SearchDocument[] _documents;
    private readonly FrozenDictionary<string, (int Doc, double Tf)[]> _postings;

    private SearchIndex(SearchDocument[] documents, FrozenDictionary<string, (int Doc, double Tf)[]> postings)
    {
        _documents = documents;
        _postings = postings;
    }

    public int Count => _documents.Length;

    public static SearchIndex Build(IEnumerable<SearchDocument> documents)
    {
        var docs = documents.ToArray();
        var fieldTerms = docs.Select(d => new[]
        {
            TextTokens.Split(d.Name),
            TextTokens.Split(d.Description),
            d.ParameterNames.SelectMany(TextTokens.Split).ToList(),
            TextTokens.Split(d.Purpose).Concat(d.Tags.SelectMany(TextTokens.Split)).ToList(),
        }).ToArray();
        var averages = Enumerable.Range(0, s_fields.Length)
            .Select(f => docs.Length == 0 ? 1 : Math.Max(1, fieldTerms.Average(t => t[f].Count)))
            .ToArray();
        var postings = new Dictionary<string, List<(int, double)>>(StringComparer.Ordinal);
        for (var d = 0; d < docs.Length; d++)
        {
            var weighted = new Dictionary<string, double>(StringComparer.Ordinal);
            for (var f = 0; f < s_fields.Length; f++)
            {
                var terms = fieldTerms[d][f];
                var (weight, b) = s_fields[f];
                var norm = 1 - b + (b * terms.Count / averages[f]);
                foreach (var term in terms)
                {
                    weighted[term] = weighted.GetValueOrDefault(term) + (weight / norm);
                }
            }

            foreach (var (term, tf) in weighted)
            {
                if (!postings.TryGetValue(term, out var list))
                {
                    postings[term] = list = [];
                }

                list.Add((d, tf));
            }
        }

        return new SearchIndex(docs, postings.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal));
    }

    /// <summary>The best matches for a query, best first; <paramref name="include"/> hides documents a caller may not see.</summary>
    public IReadOnlyList<SearchHit> Search(string query, int limit, Func<string, bool>? include = null)
    {
        var scores = new Dictionary<int, double>();
        foreach (var (term, weight) in Expand(TextTokens.Split(query)))
        {
            if (!_postings.TryGetValue(term, out var list))
            {
                continue;
            }

            var idf = Math.Log(1 + ((_documents.Length - list.Length + 0.5) / (list.Length + 0.5)));
            foreach (var (doc, tf) in list)
            {
                scores[doc] = scores.GetValueOrDefault(doc) + (weight * idf * tf * (K1 + 1) / (tf + K1));
            }
        }

        return scores
            .Where(s => include?.Invoke(_documents[s.Key].Key) ?? true)
            .OrderByDescending(s => s.Value)
            .ThenBy(s => _documents[s.Key].Key, StringComparer.Ordinal)
            .Take(limit)
            .Select(s => new SearchHit(_documents[s.Key].Key, Math.Round(s.Value, 3)))
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
