using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// The caching hints (<c>ttlMs</c>, <c>cacheScope</c>) on the list results the broker answers itself: tools/list,
/// resources/list, resources/templates/list and prompts/list (MCP 2026-07-28, server/utilities/caching, "Cacheable
/// Results": servers MUST include them on those results).
/// <list type="bullet">
/// <item><c>cacheScope</c> is always <c>private</c>: what a profile shows depends on the profile (its upstreams, gates,
/// names, budget) and so on the token that reaches it ("Choosing a Cache Scope": filtered lists that vary per user are
/// private; a public one could be shared across authorization contexts).</item>
/// <item><c>ttlMs</c> is <see cref="Fresh"/> (one minute) for a complete list and 0 for one that names an upstream
/// under <c>_meta["mcp-broker/unavailable"]</c>: that list changes as soon as the upstream is up, so it is stale at once.
/// A minute bounds how long a client that cannot hear list_changed (a stateless 2026-07-28 client without a listen
/// stream) keeps a list after a reload or an upstream's change; clients that hear it are told at once, and the
/// notification invalidates their copy ("Interaction with Notifications"). A tool a stale list still names is checked
/// again at call time (gates, quarantine), so staleness never widens access.</item>
/// </list>
/// Only requests under 2026-07-28 or later get them, as the SDK decides for its own defaults (0, private): the fields
/// do not exist before that revision and some older clients reject unknown keys.
/// </summary>
internal static class ListCaching
{
    /// <summary>How long a complete list may be taken as fresh.</summary>
    public static readonly TimeSpan Fresh = TimeSpan.FromMinutes(1);


    public static T Hinted<T, TParams>(RequestContext<TParams> request, T result)
        where T : Result, ICacheableResult
    {
        var version = request.JsonRpcRequest.Context?.ProtocolVersion ?? request.Server.NegotiatedProtocolVersion;
        if (version is not null && Upstreams.ProtocolMemory.IsStateless(version)) // caching hints came with 2026-07-28
        {
            result.CacheScope = CacheScope.Private;
            result.TimeToLive = result.Meta?.ContainsKey(Facade.FacadeText.UnavailableKey) == true ? TimeSpan.Zero : Fresh;
        }

        return result;
    }
}
