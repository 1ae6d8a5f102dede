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
        "some", "all", "any", "do", "does", "want", "need", "let", "us", "we",
    ];

    public static List<string> Split(string? text)
    {
        var terms = new List<string>();
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

    public static string Stem(string term)
    {
        if (term.Length <= 3)
        {
            return term;
        }

        foreach (var (suffix, replacement) in s_suffixes)
        {
            if (term.EndsWith(suffix, StringComparison.Ordinal) && term.Length - suffix.Length >= 3)
            {
                return term[..^suffix.Length] + replacement;
            }
        }

        return term;
    }

    private static readonly (string Suffix, string Replacement)[] s_suffixes =
    [
        ("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""),
    ];

    private static void Flush(StringBuilder word, List<string> terms)
    {
        if (word.Length > 0)
        {
            var w = word.ToString();
            if (!s_stopWords.Contains(w))
            {
                terms.Add(Stem(w));
            }

            word.Clear();
        }
    }
}
