using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;

namespace McpBroker.Facade;

/// <summary>
/// A profile's <see cref="ToolView"/> over the catalog, built once per (profile object, catalog version), and the
/// bounded wait for upstreams listed for the first time. Every part of the facade looks tools up through here.
/// </summary>
internal sealed class ProfileViews(UpstreamRegistry registry, ToolCatalog catalog, TimeProvider time)
{
    // One view per profile object: sessions of one profile share it; a session whose profile is its own copy (view: raw,
    // or a shape kept across a reload) gets its own instead of evicting theirs on every call. Weak: a profile object
    // a reload replaced takes its view with it.
    private readonly ConditionalWeakTable<ProfileModel, ToolView> _views = new();

    /// <summary>The profile's view of what the catalog holds now: nothing is listed, started or waited for.</summary>
    public ToolView Current(ProfileModel profile) => Of(profile, catalog.Current);

    public ToolView Of(ProfileModel profile, CatalogSnapshot snapshot)
    {
        if (_views.TryGetValue(profile, out var view) && view.CatalogVersion == snapshot.Version)
        {
            return view;
        }

        view = ToolView.Build(profile, snapshot);
        _views.AddOrUpdate(profile, view);
        return view;
    }

    /// <summary>The view last built for the profile, whatever catalog version it was built over (null before the first).</summary>
    public ToolView? Last(ProfileModel profile) => _views.TryGetValue(profile, out var view) ? view : null;

    /// <summary>
    /// The profile's view for list, search and describe: what the catalog holds, after a bounded wait for upstreams
    /// listed for the first time (never for one that failed), and why each missing upstream is missing.
    /// </summary>
    /// <param name="progress">When the client asked for progress: told which upstreams it waits for while they start.</param>
    public async ValueTask<(ToolView View, IReadOnlyDictionary<string, BrokerError> Unavailable)> WaitAsync(ProfileModel profile, string sessionId, CancellationToken ct,
        Func<JsonObject, ValueTask>? progress = null)
    {
        var (snapshot, unavailable) = await StartProgress.WhileAsync(catalog.AvailableAsync(profile.Upstreams, sessionId, waitForFirstListings: true, ct).AsTask(),
            () => Starting(profile.Upstreams, sessionId), progress, time, ct);
        return (Of(profile, snapshot), unavailable);
    }

    /// <summary>Which of <paramref name="upstreams"/> are not catalogued yet and are starting (or listing their tools) now, named for a progress note.</summary>
    public List<string> Starting(IEnumerable<string> upstreams, string sessionId)
    {
        var catalogued = catalog.Current.Upstreams;
        return [.. upstreams.Where(name => !catalogued.ContainsKey(name) && registry.Snapshot(name, sessionId).State is "starting" or "running")
            .Select(name => StartProgress.Label(name, registry.FindModel(name)?.Command))];
    }

    /// <summary>The profile's upstreams that are not disabled.</summary>
    public List<UpstreamModel> Enabled(ProfileModel profile) =>
        [.. profile.Upstreams.Select(registry.FindModel).OfType<UpstreamModel>().Where(u => u.Mode != UpstreamMode.Disabled)];

    /// <summary>The servers a compact list names in search_tools' description: the profile's upstreams, with what the view holds of each.</summary>
    public List<FacadeServer> Servers(ProfileModel profile, ToolView view) => ProfileContext.Servers(Enabled(profile), view);

    /// <summary>The profile's upstreams a name would belong to by its prefix (<c>PREFIX.tool</c> or <c>PREFIX__tool</c>).</summary>
    public IEnumerable<UpstreamModel> Serving(ProfileModel profile, string name) => profile.Upstreams
        .Select(registry.FindModel).OfType<UpstreamModel>()
        .Where(m => name.StartsWith(m.Prefix + ".", StringComparison.Ordinal) || name.StartsWith(m.Prefix + "__", StringComparison.Ordinal));

    /// <summary>
    /// A name the profile does not show, as the error a client reads: how to name tools, and the nearest tool of the
    /// view when the search index finds one.
    /// </summary>
    public BrokerError UnknownTool(ProfileModel profile, string name)
    {
        var search = ToolNames.BrokerTool(FacadeTools.Search, profile.NameStyle);
        var hint = profile.CompactToolsEnabled
            ? $"use a name exactly as {search} returned it"
            : "use a name exactly as tools/list returned it";
        if (Last(profile) is { } view && name.Length <= 256
            && catalog.Current.Index.Search(name, 1, view.Contains) is [var best] && view.Find(best.Key) is { } suggestion)
        {
            hint += $"; did you mean '{suggestion.ExposedName}'?";
        }

        return new BrokerError(BrokerErrorCode.UnknownTool, $"no tool named '{FacadeText.Truncate(name, 200)}' in profile '{profile.Name}'", hint);
    }
}
