using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// What a session's tools/list and tools/call do, for compact and raw profiles: the entry the sessions use. It routes a
/// call to the broker tool it names (<see cref="BrokerTools"/>, <see cref="UnlistedTools"/>, <see cref="StatusTool"/>)
/// or to the upstream tool (<see cref="UpstreamCalls"/>); listing is <see cref="ToolListing"/>'s. Every failure on these
/// paths is a <see cref="BrokerError"/> until <see cref="FacadeErrors.ErrorResult"/> turns it into an MCP tool result.
/// </summary>
internal sealed class BrokerFacade
{
    private readonly ProfileViews _views;
    private readonly ToolListing _listing;
    private readonly BrokerTools _tools;
    private readonly UnlistedTools _unlisted;
    private readonly StatusTool _status;
    private readonly UpstreamCalls _upstreams;

    public BrokerFacade(UpstreamRegistry registry, ToolCatalog catalog, BrokerResources resources, Telemetry.CallLog calls, IClientSessions? peers = null)
    {
        _views = new ProfileViews(registry, catalog, calls.Time);
        _listing = new ToolListing(_views);
        _unlisted = new UnlistedTools(resources);
        _upstreams = new UpstreamCalls(registry, catalog, _views, calls, peers);
        _tools = new BrokerTools(catalog, _views, _upstreams, _unlisted);
        _status = new StatusTool(registry, catalog, _views);
    }

    public async ValueTask<ListToolsResult> ListToolsAsync(ProfileModel profile, string sessionId, string? cursor, CancellationToken ct) =>
        (await _listing.ListAsync(profile, sessionId, cursor, ct)).Result;

    /// <inheritdoc cref="ToolListing.ListAsync"/>
    public ValueTask<(ListToolsResult Result, string? Signature)> ListToolsWithSignatureAsync(ProfileModel profile, string sessionId, string? cursor, CancellationToken ct) =>
        _listing.ListAsync(profile, sessionId, cursor, ct);

    /// <inheritdoc cref="ToolListing.SignatureAsync"/>
    public ValueTask<string> ListSignatureAsync(ProfileModel profile, string sessionId, CancellationToken ct) => _listing.SignatureAsync(profile, sessionId, ct);

    /// <inheritdoc cref="ToolListing.CurrentSignature"/>
    public string CurrentSignature(ProfileModel profile) => _listing.CurrentSignature(profile);

    /// <inheritdoc cref="StatusTool.Context(ProfileModel)"/>
    public ProfileContext Context(ProfileModel profile) => _status.Context(profile);

    public JsonObject Status(ProfileModel profile, string? sessionId) => _status.Status(profile, sessionId);

    /// <inheritdoc cref="FacadeText.Match"/>
    public static JsonObject Match(string name, Tool tool, string upstream, bool mutating) => FacadeText.Match(name, tool, upstream, mutating);

    /// <inheritdoc cref="FacadeErrors.ErrorResult"/>
    public static CallToolResult ErrorResult(BrokerError error) => FacadeErrors.ErrorResult(error);

    /// <summary>A tool call from a session; <paramref name="progress"/> (when the client asked for progress) gets the upstream's progress params.</summary>
    public async ValueTask<CallToolResult> CallToolAsync(ProfileModel profile, string sessionId, CallToolRequestParams request, CancellationToken ct,
        Func<JsonObject, ValueTask>? progress = null)
    {
        Outcome<CallToolResult> outcome;
        using var span = CallSpan(profile, sessionId, request.Name);
        try
        {
            outcome = await DispatchAsync(profile, sessionId, request, progress, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            outcome = FacadeErrors.Failed(request.Name, ex);
        }

        return outcome.Ok ? outcome.Value! : FacadeErrors.ErrorResult(outcome.Error!);
    }

    /// <summary>The span of one session's tool call (null, and nothing built, when no one listens).</summary>
    private static System.Diagnostics.Activity? CallSpan(ProfileModel profile, string sessionId, string tool)
    {
        var span = Telemetry.BrokerTelemetry.Source.StartActivity(Telemetry.BrokerTelemetry.CallSpan, System.Diagnostics.ActivityKind.Internal);
        if (span is not null)
        {
            span.SetTag("mcp_broker.session.id", sessionId);
            span.SetTag("mcp_broker.profile", profile.Name);
            span.SetTag("mcp_broker.tool", tool);
        }

        return span;
    }

    /// <summary>
    /// A broker tool when the profile shows the facade (compact, or over its budget with on_over_budget: compact) — and
    /// status in every profile; else an upstream tool by its exposed name.
    /// </summary>
    private async Task<Outcome<CallToolResult>> DispatchAsync(ProfileModel profile, string sessionId, CallToolRequestParams request, Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        var arguments = request.Arguments ?? new Dictionary<string, JsonElement>();
        var brokerTool = FacadeTools.Match(request.Name);
        var compact = profile.CompactToolsEnabled
            || (brokerTool is not null && profile.OnOverBudget == OverBudgetAction.Compact && (await _views.WaitAsync(profile, sessionId, ct)).View.Tools.Count > profile.MaxTools);
        return brokerTool is not null && (compact || brokerTool == FacadeTools.Status)
            ? brokerTool switch
            {
                FacadeTools.Search => await _tools.SearchAsync(profile, sessionId, arguments, progress, ct),
                FacadeTools.Describe => await _tools.DescribeAsync(profile, sessionId, arguments, progress, ct),
                FacadeTools.Call => await _tools.CallAsync(profile, sessionId, arguments, progress, ct),
                FacadeTools.Status => FacadeText.Text(_status.Status(profile, sessionId)),
                var unlisted => await _unlisted.CallAsync(profile, sessionId, unlisted, arguments, ct),
            }
            : compact
                ? FacadeErrors.NotABrokerTool(profile, request.Name)
                : await _upstreams.CallAsync(profile, sessionId, request.Name, request.Arguments, progress, ct);
    }
}
