namespace McpBroker.Catalog;

/// <summary>
/// The ranking's constants, fixed by the evaluation's dev half (docs/context-economy.md says how each was chosen).
/// A record so the bench can fit them on dev; the broker uses <see cref="Default"/>.
/// </summary>
internal sealed record SearchTuning
{
    public static SearchTuning Default { get; } = new();

    /// <summary>BM25's term-frequency saturation.</summary>
    public double K1 { get; init; } = 2.0;

    /// <summary>Weight and length normalisation per field: name, summary, parameter names, parameter descriptions, upstream, details.</summary>
    public IReadOnlyList<(double Weight, double B)> Fields { get; init; } = [(3.0, 0.5), (2.0, 0.5), (1.2, 0.5), (0.4, 0.75), (1.5, 0.5), (0.6, 0.75)];

    /// <summary>A synonym's weight beside the word itself.</summary>
    public double SynonymWeight { get; init; } = 0.1;

    /// <summary>Up to this factor more for a tool that answers every word of the request.</summary>
    public double Coverage { get; init; } = 1.33;

    /// <summary>Up to this factor more for a tool whose distinctive name words the request all asked for.</summary>
    public double NameFit { get; init; } = 0.5;

    /// <summary>This factor more for the tools of an upstream the request names.</summary>
    public double Named { get; init; } = 0.5;

    /// <summary>Whether the tools of an upstream the request names come before every other upstream's.</summary>
    public bool NamedFirst { get; init; } = true;

    /// <summary>
    /// With <see cref="NamedFirst"/>, only a named upstream's tools scoring at least this share of the best match come
    /// first: a word that names an upstream in passing ("what's using memory on the page") does not bury the tool asked for.
    /// </summary>
    public double NamedFloor { get; init; } = 0.5;

    /// <summary>
    /// A word still names an upstream's system when the tools of at most this many other upstreams use it
    /// ("gitlab" does; "search", "maps" and "memory" are the vocabulary of many).
    /// </summary>
    public int NameSharedBy { get; init; } = 2;

    /// <summary>
    /// Whether an upstream's own name always names it, however many other upstreams' tools use the word ("memory",
    /// "filesystem"); when false it obeys <see cref="NameSharedBy"/> like the other names.
    /// </summary>
    public bool OwnNameNames { get; init; } = true;

    /// <summary>
    /// Whether a word found only in the upstream's name, purpose or tags counts as answered by the tool (for coverage,
    /// relevance and the words a match shows). Those words are the same for every tool of the upstream, so they tell
    /// its tools apart no better than they tell the upstream from the others.
    /// </summary>
    public bool UpstreamCovers { get; init; } = true;

    /// <summary>
    /// The least share of the request's weight (each word weighs its IDF) a match must answer to be returned; 0 returns
    /// everything that shares a word.
    /// </summary>
    public double MinRelevance { get; init; }

    /// <summary>
    /// Whether matches that answer one word of a request of three or more are marked weak, and at most three shown
    /// when nothing matches better.
    /// </summary>
    public bool MarkWeak { get; init; } = true;

}
