using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// A session's tools/list: the four broker tools for a compact profile (or one over its max_tools budget with
/// on_over_budget: compact), else the raw view in pages behind cursors; and the signature of what it lists, which
/// changes exactly when a client's list is out of date.
/// </summary>
internal sealed class ToolListing(ProfileViews views)
{
    /// <summary>
    /// A session's tools/list, with the signature (<see cref="SignatureAsync"/>) of the very view it was listed from.
    /// Upstreams not catalogued are named under <c>_meta["mcp-broker/unavailable"]</c> (see <see cref="Catalog.ToolCatalog.AvailableAsync"/>).
    /// </summary>
    public async ValueTask<(ListToolsResult Result, string? Signature)> ListAsync(ProfileModel profile, string sessionId, string? cursor, CancellationToken ct)
    {
        if (profile.CompactToolsEnabled)
        {
            // search_tools names what the catalog holds now (nothing is started or waited for); the signature changes when
            // that does, so the session is told list_changed.
            var current = views.Current(profile);
            return (new ListToolsResult { Tools = FacadeTools.Definitions(profile.NameStyle, views.Servers(profile, current)) }, Signature(profile, current));
        }

        var (view, unavailable) = await views.WaitAsync(profile, sessionId, ct);
        if (view.Tools.Count > profile.MaxTools)
        {
            return profile.OnOverBudget == OverBudgetAction.Compact
                ? (new ListToolsResult { Tools = FacadeTools.Definitions(profile.NameStyle, views.Servers(profile, view)) }, Signature(profile, view))
                : throw new McpProtocolException(
                    $"profile '{profile.Name}' would list {view.Tools.Count} tools, over its max_tools budget of {profile.MaxTools}; raise profiles.{profile.Name}.max_tools, set on_over_budget: compact, or use compact_tools_enabled: true",
                    McpErrorCode.InternalError);
        }

        var (offset, size) = (0, profile.ToolsPageSize == 0 ? int.MaxValue : profile.ToolsPageSize);
        if (cursor is not null && !TryReadCursor(cursor, view.ListKey, out offset))
        {
            throw new McpProtocolException("the tool list changed since this cursor was given (or the cursor is not one of ours); list again without a cursor",
                McpErrorCode.InvalidParams);
        }

        var page = view.Tools.Skip(offset).Take(size).Select(t => ProfileContext.Renamed(t.Tool, t.ExposedName)).ToList();
        var next = offset + page.Count;
        return (new ListToolsResult
        {
            Tools = page,
            NextCursor = next < view.Tools.Count ? $"{view.ListKey}.{next}" : null,
            Meta = unavailable.Count == 0 ? null : new JsonObject { [FacadeText.UnavailableKey] = FacadeText.Unavailable(unavailable) },
        }, Signature(profile, view));
    }

    /// <summary>
    /// What the session's tools/list shows now, as a fingerprint: it differs exactly when the list a client holds is
    /// out of date, so a session is told list_changed only then.
    /// </summary>
    public async ValueTask<string> SignatureAsync(ProfileModel profile, string sessionId, CancellationToken ct) =>
        Signature(profile, (await views.WaitAsync(profile, sessionId, ct)).View);

    /// <summary>The signature of what the catalog holds now (nothing listed, started or waited for): for change notices.</summary>
    public string CurrentSignature(ProfileModel profile) => Signature(profile, views.Current(profile));

    private string Signature(ProfileModel profile, ToolView view) =>
        profile.CompactToolsEnabled ? FacadeTools.SearchDescription(profile.NameStyle, views.Servers(profile, view))
        : view.Tools.Count > profile.MaxTools ? "over-budget" + (profile.OnOverBudget == OverBudgetAction.Compact ? "\n" + FacadeTools.SearchDescription(profile.NameStyle, views.Servers(profile, view)) : "")
        : string.Join('\n', view.Tools.Select(t => $"{t.ExposedName}\t{t.Tool.Description}\t{t.Tool.InputSchema.GetRawText()}\t{t.Tool.Annotations?.ReadOnlyHint}"));

    /// <summary>A cursor is the list's key and an offset: good while the profile lists the same tools (see <see cref="ToolView.ListKey"/>).</summary>
    private static bool TryReadCursor(string cursor, string listKey, out int offset)
    {
        offset = 0;
        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && cursor.AsSpan(0, dot).SequenceEqual(listKey)
            && int.TryParse(cursor.AsSpan(dot + 1), out offset) && offset >= 0;
    }
}
