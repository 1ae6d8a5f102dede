using System.Text;

namespace McpBroker.Catalog;

/// <summary>
/// Turns names and prose into search terms: splits snake_case, kebab-case, dotted and camelCase words,
/// lower-cases, drops stop words and strips common English endings so "entities" meets "entity".
/// </summary>
internal static class TextTokens
{
    private static readonly HashSet<string> s_stopWords =
    [
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on", "or",
        "that", "the", "this", "to", "with", "me", "my", "i", "you", "your", "please", "can", "could", "would", "should", "will",
        "some", "all", "any", "do", "does", "want", "need", "let", "us", "we", "our", "what", "which", "when", "where",
        "why", "how", "there", "here", "about", "now", "also", "these", "those", "them", "they", "just", "so", "did", "was",
        "were", "has", "have", "been", "am", "if", "then", "than", "there", "their", "whole", "every", "exactly", "that's",
    ];

    public static List<string> Split(string? text) => [.. Words(text).Select(w => w.Term)];

    /// <summary>The search terms of a text, each with the word it came from as the text wrote it (lower-cased).</summary>
    public static List<(string Surface, string Term)> Words(string? text)
    {
        var terms = new List<(string, string)>();
        if (string.IsNullOrEmpty(text))
        {
            return terms;
        }

        var word = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var boundary = !char.IsLetterOrDigit(c)
                || (char.IsUpper(c) && i > 0 && (char.IsLower(text[i - 1]) || (i + 1 < text.Length && char.IsLower(text[i + 1]) && char.IsUpper(text[i - 1]))))
                || (char.IsDigit(c) != (i > 0 && char.IsDigit(text[i - 1])) && word.Length > 0);
            if (boundary)
            {
                Flush(word, terms);
            }

            if (char.IsLetterOrDigit(c))
            {
                word.Append(char.ToLowerInvariant(c));
            }
        }

        Flush(word, terms);
        return terms;
    }

    /// <summary>
    /// A light stemmer: plural and verb endings, then a final 'e', so create/created/creates and
    /// issue/issues meet. Stems are internal to the index; nobody reads them.
    /// </summary>
    public static string Stem(string term)
    {
        if (term.Length <= 3)
        {
            return term;
        }

        var stem = term switch
        {
            _ when term.EndsWith("ies", StringComparison.Ordinal) => term[..^3] + "y",
            _ when term.EndsWith("sses", StringComparison.Ordinal) => term[..^2],
            _ when term.EndsWith("es", StringComparison.Ordinal) && term.Length > 4 && "sxz".Contains(term[^3]) => term[..^2],
            _ when term.EndsWith("ches", StringComparison.Ordinal) || term.EndsWith("shes", StringComparison.Ordinal) => term[..^2],
            _ when term.EndsWith("ing", StringComparison.Ordinal) && term.Length > 5 => term[..^3],
            _ when term.EndsWith("ed", StringComparison.Ordinal) && term.Length > 4 => term[..^2],
            _ when term.EndsWith('s') && !term.EndsWith("ss", StringComparison.Ordinal) => term[..^1],
            _ => term,
        };
        return stem.Length > 3 && stem.EndsWith('e') ? stem[..^1] : stem;
    }

    private static void Flush(StringBuilder word, List<(string, string)> terms)
    {
        if (word.Length > 0)
        {
            var w = word.ToString();
            if (!s_stopWords.Contains(w))
            {
                terms.Add((w, Stem(w)));
            }

            word.Clear();
        }
    }
}
