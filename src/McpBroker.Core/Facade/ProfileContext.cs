using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Measure;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// The context figures of one profile over one catalog snapshot. "exposed" are the upstream tools the profile can call
/// — after its gates (mutating tools it does not allow and quarantined ones are not counted) and under the names it
/// shows — serialized as its raw view lists them; "listed" is its own tools/list, every page (the four broker tools
/// when compact). "facade" is what the four broker tools cost for this profile whatever it lists, so <c>measure</c> can set
/// the two exposures a client may get side by side (Clients/ClientExposure). Hidden tools are counted apart. <c>mcp-broker status</c>/<c>top</c>, the status page,
/// <c>broker.status</c>, <c>measure</c> and <c>tools count</c> all print these figures, so they cannot disagree.
/// </summary>
internal sealed record ProfileContext(
    string Profile,
    bool Compact,
    int Upstreams,
    int Catalogued,
    Cost Exposed,
    Cost? Listed,
    Cost Facade,
    int MutatingHidden,
    int Quarantined)
{
    // Tokenizing costs milliseconds: once per (profile, catalog version) — a view is built for exactly that pair.
    private static readonly ConditionalWeakTable<ToolView, ProfileContext> s_cache = new();

    /// <summary>Tokens the profile's tools/list saves against listing every tool it exposes (0 when it saves none).</summary>
    public int SavedTokens => Listed is { } listed ? Math.Max(0, Exposed.Tokens - listed.Tokens) : 0;

    public double SavedPct => Listed is { } listed ? Math.Max(0, ContextCost.Reduction(Exposed.Tokens, listed.Tokens)) : 0;

    /// <summary>
    /// The figures for <paramref name="view"/>, the view of <paramref name="profile"/> over <paramref name="snapshot"/>;
    /// <paramref name="enabled"/> are the profile's upstreams that are not disabled.
    /// </summary>
    public static ProfileContext Of(ProfileModel profile, ToolView view, CatalogSnapshot snapshot, IReadOnlyCollection<UpstreamModel> enabled) =>
        s_cache.GetValue(view, v =>
        {
            var servers = Servers(enabled, v);
            var listing = Listing(profile, v, servers);
            var listed = listing is null ? (Cost?)null : ContextCost.Of([.. listing]);
            return new ProfileContext(
                profile.Name,
                profile.CompactToolsEnabled,
                enabled.Count,
                enabled.Count(u => snapshot.Upstreams.ContainsKey(u.Name)),
                ContextCost.Of(ExposedTools(v)),
                listed,
                profile.CompactToolsEnabled && listed is { } same ? same : ContextCost.Of([.. FacadeTools.Definitions(profile.NameStyle, servers)]),
                v.Withheld.Count(w => w.Why == Withheld.Mutating),
                v.Withheld.Count(w => w.Why == Withheld.Quarantined));
        });

    /// <summary>The upstream tools a view exposes, as the profile's raw view lists them (its names, its overrides).</summary>
    public static List<Tool> ExposedTools(ToolView view) => [.. view.Tools.Select(t => Renamed(t.Tool, t.ExposedName))];

    /// <summary>
    /// Every tool the profile's tools/list returns, all pages together: the four broker tools when compact (or over its
    /// max_tools budget with on_over_budget: compact), else the exposed tools; null when over budget with on_over_budget: error
    /// (tools/list then fails).
    /// </summary>
    public static IList<Tool>? Listing(ProfileModel profile, ToolView view, IReadOnlyList<FacadeServer> servers) =>
        profile.CompactToolsEnabled ? FacadeTools.Definitions(profile.NameStyle, servers)
        : view.Tools.Count <= profile.MaxTools ? ExposedTools(view)
        : profile.OnOverBudget == OverBudgetAction.Compact ? FacadeTools.Definitions(profile.NameStyle, servers)
        : null;

    /// <summary>The servers <c>search_tools</c>' description names: each enabled upstream with the tools the view shows of it.</summary>
    public static List<FacadeServer> Servers(IEnumerable<UpstreamModel> enabled, ToolView view) =>
        [.. enabled.Select(u =>
        {
            var tools = view.Tools.Where(t => t.Upstream.Name == u.Name).Select(t => t.Tool.Name).ToList();
            return new FacadeServer(u.Name, u.Purpose, u.Tags, tools.Count == 0 ? null : tools.Count, tools);
        })];

    public static Tool Renamed(Tool tool, string name) => name == tool.Name ? tool : UpstreamTools.Copy(tool, name, tool.Description);

    public JsonObject ToJson() => new()
    {
        ["profile"] = Profile,
        ["compact"] = Compact,
        ["upstreams"] = Upstreams,
        ["catalogued"] = Catalogued,
        // "raw": the exposed upstream tools, as the profile's raw view lists them (what it would cost without the facade).
        ["raw_tools"] = Exposed.Tools,
        ["raw_bytes"] = Exposed.Bytes,
        ["raw_tokens"] = Exposed.Tokens,
        ["listed_tools"] = Listed?.Tools,
        ["listed_bytes"] = Listed?.Bytes,
        ["listed_tokens"] = Listed?.Tokens,
        ["over_budget"] = Listed is null ? true : null,
        // The four broker tools for this profile, listed or not: the facade a client could be given instead of the raw tools.
        ["facade_tools"] = Facade.Tools,
        ["facade_bytes"] = Facade.Bytes,
        ["facade_tokens"] = Facade.Tokens,
        ["mutating_hidden"] = MutatingHidden,
        ["quarantined"] = Quarantined,
        ["saved_tokens"] = SavedTokens,
        ["saved_pct"] = SavedPct,
    };
}
