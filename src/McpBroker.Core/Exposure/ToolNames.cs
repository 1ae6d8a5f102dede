using System.Text;
using McpBroker.Config;

namespace McpBroker.Exposure;

/// <summary>
/// Exposed tool names. Dotted: the canonical <c>prefix.tool</c>. Snake: <c>prefix__tool</c> with only
/// <c>[A-Za-z0-9_-]</c>, at most 64 characters; a name that had to be shortened, or that would collide after
/// sanitising, ends in <c>_</c> plus 8 hex digits of the canonical name's SHA-256, so it is the same on every run.
/// </summary>
internal static class ToolNames
{
    public const int MaxSnakeLength = 64;
    private const int HashLength = 8;

    public static string BrokerTool(string tool, ToolNameStyle style) => style == ToolNameStyle.Snake ? $"broker_{tool}" : $"broker.{tool}";

    /// <summary>Exposed name for every canonical name, collisions resolved deterministically.</summary>
    public static Dictionary<string, string> Expose(IEnumerable<(string Prefix, string Tool)> tools, ToolNameStyle style)
    {
        var canonical = tools.Select(t => (Canonical: $"{t.Prefix}.{t.Tool}", t.Prefix, t.Tool)).Distinct().ToList();
        if (style == ToolNameStyle.Dotted)
        {
            return canonical.ToDictionary(t => t.Canonical, t => t.Canonical, StringComparer.Ordinal);
        }

        var plain = canonical.ToDictionary(t => t.Canonical, t => Sanitize($"{t.Prefix}__{t.Tool}"), StringComparer.Ordinal);
        var collisions = plain.GroupBy(p => p.Value, StringComparer.Ordinal).Where(g => g.Count() > 1).SelectMany(g => g.Select(p => p.Key)).ToHashSet();
        return plain.ToDictionary(
            p => p.Key,
            p => collisions.Contains(p.Key) || p.Value.Length > MaxSnakeLength ? WithHash(p.Value, p.Key) : p.Value,
            StringComparer.Ordinal);
    }

    private static string Sanitize(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_');
        }

        return sb.ToString();
    }

    private static string WithHash(string name, string canonical)
    {
        var hash = Convert.ToHexStringLower(Shared.Sha256.HashData(Encoding.UTF8.GetBytes(canonical)))[..HashLength];
        var keep = Math.Min(name.Length, MaxSnakeLength - HashLength - 1);
        return $"{name[..keep]}_{hash}";
    }
}
