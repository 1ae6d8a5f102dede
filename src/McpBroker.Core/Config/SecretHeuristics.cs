using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>Recognises values that look like credentials, so they can be warned about and redacted.</summary>
public static partial class SecretHeuristics
{
    /// <summary>A variable or key name that usually holds a credential (GITHUB_TOKEN, api_key, Authorization, …).</summary>
    public static bool LooksLikeSecretName(string name) => SecretName().IsMatch(name);

    /// <summary>
    /// A line of a config file (JSON <c>"key": "value"</c> or TOML/YAML <c>key = "value"</c>) with every quoted value
    /// whose key or content looks like a credential replaced by <c>***</c>: for printing diffs of files users own.
    /// </summary>
    public static string RedactLine(string line)
    {
        var byKey = QuotedPair().Replace(line, m => LooksLikeSecretName(m.Groups["key"].Value)
            ? m.Value[..(m.Groups["value"].Index - m.Index)] + "***\""
            : m.Value);

        // Then any quoted string that looks like a token wherever it is (an argument, a list item).
        return QuotedString().Replace(byKey, m => LooksLikeSecret(m.Groups["value"].Value) ? "\"***\"" : m.Value);
    }

    [GeneratedRegex(@"(TOKEN|SECRET|PASSWORD|PASSWD|API[_-]?KEY|ACCESS[_-]?KEY|PRIVATE[_-]?KEY|CREDENTIAL|AUTH|COOKIE|SESSION|(^|[^A-Za-z])KEY($|[^A-Za-z]))", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"""?(?<key>[A-Za-z0-9_.\-]+)""?\s*[:=]\s*""(?<value>(?:[^""\\]|\\.)*)""")]
    private static partial Regex QuotedPair();

    [GeneratedRegex(@"""(?<value>(?:[^""\\]|\\.)*)""")]
    private static partial Regex QuotedString();

    private static readonly string[] s_prefixes =
    [
        "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "sk-", "sk_live_", "sk_test_", "rk_live_",
        "xoxb-", "xoxp-", "xoxa-", "xapp-", "AKIA", "ASIA", "AIza", "ya29.", "eyJ", "npm_", "pypi-", "hf_", "dop_v1_",
    ];

    public static bool LooksLikeSecret(string value)
    {
        var v = value.Trim();
        if (v.Length < 8)
        {
            return false;
        }

        if (s_prefixes.Any(p => v.StartsWith(p, StringComparison.Ordinal) && v.Length >= p.Length + 8))
        {
            return true;
        }

        // Long random-looking tokens: no spaces or path separators, several character classes, high entropy.
        if (v.Length < 24 || v.Contains(' ') || v.Contains('/') || v.Contains('\\'))
        {
            return false;
        }

        var classes = (v.Any(char.IsLower) ? 1 : 0) + (v.Any(char.IsUpper) ? 1 : 0) + (v.Any(char.IsDigit) ? 1 : 0);
        return classes >= 2 && Entropy(v) >= 3.5;
    }

    private static double Entropy(string s)
    {
        var counts = new Dictionary<char, int>();
        foreach (var c in s)
        {
            counts[c] = counts.GetValueOrDefault(c) + 1;
        }

        return -counts.Values.Sum(n => (double)n / s.Length * Math.Log2((double)n / s.Length));
    }
}
