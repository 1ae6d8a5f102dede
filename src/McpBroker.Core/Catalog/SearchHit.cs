namespace McpBroker.Catalog;

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
