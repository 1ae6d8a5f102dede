namespace McpBroker.Config;

/// <summary>For a name that matches nothing: the defined name it is most likely a typo of, if one is close enough.</summary>
public static class DidYouMean
{
    /// <summary>"; did you mean 'raw'?" for the closest of <paramref name="known"/> to <paramref name="typed"/>, or "" when none is close.</summary>
    public static string Hint(string typed, IEnumerable<string> known)
    {
        // Close enough: a third of the name's letters wrong at most (two for short names), or the same name in another case.
        var best = known
            .Select(k => (Name: k, Distance: string.Equals(k, typed, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(typed.ToLowerInvariant(), k.ToLowerInvariant())))
            .Where(k => k.Distance <= Math.Max(2, typed.Length / 3))
            .OrderBy(k => k.Distance)
            .ThenBy(k => k.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        return best.Name is null ? "" : $"; did you mean '{best.Name}'?";
    }

    /// <summary>Edits (insert, delete, substitute, swap two neighbours) from one to the other.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
