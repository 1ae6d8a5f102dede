using McpBroker.Catalog;

namespace McpBroker.Bench;

/// <summary>
/// The floor the broker's ranking must beat: textbook BM25 over one field (name, description and parameter names
/// run together), the same tokenizer, no field weights, no parameter descriptions, no upstream purpose, no synonyms.
/// </summary>
internal sealed class PlainBm25
{
    private const double K1 = 1.2;
    private const double B = 0.75;
    private readonly List<(string Key, Dictionary<string, int> Tf, int Length)> _docs;
    private readonly Dictionary<string, int> _df = new(StringComparer.Ordinal);
    private readonly double _average;

    public PlainBm25(IEnumerable<SearchDocument> documents)
    {
        _docs = [.. documents.Select(d =>
        {
            var terms = TextTokens.Split($"{d.Name} {d.Description} {string.Join(' ', d.ParameterNames)}");
            return (d.Key, terms.GroupBy(t => t, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal), terms.Count);
        })];
        foreach (var term in _docs.SelectMany(d => d.Tf.Keys))
        {
            _df[term] = _df.GetValueOrDefault(term) + 1;
        }

        _average = _docs.Count == 0 ? 1 : _docs.Average(d => d.Length);
    }

    public IReadOnlyList<string> Search(string query, int limit)
    {
        var terms = TextTokens.Split(query).Distinct().ToList();
        return [.. _docs
            .Select(d => (d.Key, Score: terms.Where(d.Tf.ContainsKey).Sum(t =>
            {
                var idf = Math.Log(1 + ((_docs.Count - _df[t] + 0.5) / (_df[t] + 0.5)));
                var tf = d.Tf[t];
                return idf * tf * (K1 + 1) / (tf + (K1 * (1 - B + (B * d.Length / _average))));
            })))
            .Where(d => d.Score > 0)
            .OrderByDescending(d => d.Score)
            .ThenBy(d => d.Key, StringComparer.Ordinal)
            .Take(limit)
            .Select(d => d.Key)];
    }
}
