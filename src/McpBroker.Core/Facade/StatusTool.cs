using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;

namespace McpBroker.Facade;

/// <summary>
/// The <c>status</c> broker tool (listed in every profile): each upstream's state, limits, hidden and quarantined tools,
/// and the profile's context figures — all from what is known now, nothing started or listed.
/// </summary>
internal sealed class StatusTool(UpstreamRegistry registry, ToolCatalog catalog, ProfileViews views)
{
    /// <summary>The profile's context figures over what the catalog holds now (nothing is listed or started).</summary>
    public ProfileContext Context(ProfileModel profile) => Context(profile, catalog.Current);

    public JsonObject Status(ProfileModel profile, string? sessionId)
    {
        var snapshot = catalog.Current;
        var view = views.Of(profile, snapshot);
        var upstreams = new JsonArray();
        foreach (var name in profile.Upstreams)
        {
            if (registry.FindModel(name) is not { } upstream)
            {
                continue;
            }

            var state = registry.Snapshot(name, sessionId);
            upstreams.Add(new JsonObject
            {
                ["name"] = state.Name,
                ["mode"] = upstream.Mode switch { UpstreamMode.PerSession => "per_session", UpstreamMode.PerCall => "per_call", _ => "shared" },
                ["transport"] = upstream.Transport.ToString().ToLowerInvariant(),
                ["protocol"] = state.Protocol,
                ["url"] = upstream.Remote?.DisplayUrl,
                ["state"] = state.State,
                ["pid"] = state.Pid,
                ["instances"] = registry.Instances(name),
                ["sessions"] = state.Sessions,
                ["in_flight"] = state.InFlight,
                ["restarts"] = state.Restarts,
                ["failures"] = state.ConsecutiveFailures,
                ["retry_at"] = state.RetryAt,
                ["tools"] = snapshot.Upstreams.ContainsKey(name) ? view.Tools.Count(t => t.Upstream.Name == name) : null,
                ["last_error"] = state.LastError,
                ["auth"] = AuthProbe.Of(upstream, DaemonEnvironment.Get, DateTimeOffset.UtcNow).ToJson(),
            });
            if (upstream.Limits is not null)
            {
                upstreams[^1]!["limits"] = ResourceCeiling.Status(upstream.Limits, [state]);
            }

            var withheld = view.Withheld.Where(w => w.Tool.Upstream.Name == name).ToList();
            if (withheld.Any(w => w.Why == Withheld.Mutating))
            {
                upstreams[^1]!["mutating_hidden"] = withheld.Count(w => w.Why == Withheld.Mutating);
            }

            if (withheld.Any(w => w.Why == Withheld.Quarantined))
            {
                upstreams[^1]!["quarantined"] = new JsonArray([.. withheld.Where(w => w.Why == Withheld.Quarantined)
                    .Select(w => (JsonNode)new JsonObject { ["tool"] = w.Tool.Tool.Name, ["reason"] = w.Reason })]);
            }
        }

        return new JsonObject { ["profile"] = profile.Name, ["upstreams"] = upstreams, ["context"] = Context(profile, snapshot).ToJson() };
    }

    private ProfileContext Context(ProfileModel profile, CatalogSnapshot snapshot) => ProfileContext.Of(profile, views.Of(profile, snapshot), snapshot, views.Enabled(profile));
}
