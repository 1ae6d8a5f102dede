using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// The call path to an upstream tool: the name resolved in the profile's view (listing only the one upstream it
/// belongs to when it is not catalogued yet), the gates, a lease on an instance, the call with its configured default
/// arguments, and the record of it (call log, metrics, an upstream span). Failures are values.
/// </summary>
internal sealed class UpstreamCalls(UpstreamRegistry registry, ToolCatalog catalog, ProfileViews views, Telemetry.CallLog calls, IClientSessions? peers)
{
    /// <summary>
    /// Calls an upstream tool the profile shows, by its exposed name, recorded (call log, metrics, an upstream span)
    /// with its outcome; a withheld, unknown or unreachable tool is the error a client reads instead.
    /// </summary>
    public async Task<Outcome<CallToolResult>> CallAsync(ProfileModel profile, string sessionId, string name, IDictionary<string, JsonElement>? arguments,
        Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        // A call needs only its own upstream's tools: what the catalog holds, or that one upstream listed now. No other
        // upstream is listed, started or waited for on this path.
        var snapshot = catalog.Current;
        var view = views.Of(profile, snapshot);
        BrokerError? down = null;
        if (view.Find(name) is null && view.FindWithheld(name) is null)
        {
            var missing = views.Serving(profile, name).Where(u => !snapshot.Upstreams.ContainsKey(u.Name)).ToList();
            if (missing.Count > 0)
            {
                var listed = await StartProgress.WhileAsync(Task.WhenAll(missing.Select(u => catalog.ListedAsync(u.Name, sessionId, ct).AsTask())),
                    () => views.Starting(missing.Select(u => u.Name), sessionId), progress, calls.Time, ct);
                down = listed.Select(l => l.Error).FirstOrDefault(e => e is not null);
            }
            else if (profile.Transparent && profile.Upstreams.Any(u => !snapshot.Upstreams.ContainsKey(u)))
            {
                // Unprefixed names do not say their upstream: a transparent profile waits as tools/list does.
                var (_, unavailable) = await views.WaitAsync(profile, sessionId, ct, progress);
                down = unavailable.Values.FirstOrDefault();
            }

            view = views.Current(profile);
        }

        if (view.FindWithheld(name) is { } withheld)
        {
            var refusal = FacadeErrors.Refusal(profile, withheld.Tool, withheld.Why, withheld.Reason);
            calls.Refused(profile.Name, withheld.Tool.Upstream.Name, withheld.Tool.Tool.Name, refusal.CodeName, ClientOf(sessionId));
            return refusal;
        }

        if (view.Find(name) is not { } tool || registry.Acquire(tool.Upstream.Name, sessionId) is not { } lease)
        {
            var error = down ?? views.UnknownTool(profile, name);
            calls.Refused(profile.Name, view.Find(name)?.Upstream.Name ?? "", view.Find(name)?.Tool.Name ?? name, error.CodeName, ClientOf(sessionId));
            return error;
        }

        await using (lease)
        {
            var idempotent = (tool.Upstream.ToolOverrides.GetValueOrDefault(tool.Tool.Name)?.Idempotent ?? tool.Tool.Annotations?.IdempotentHint) == true;
            var started = calls.Time.GetTimestamp();
            using var span = Telemetry.BrokerTelemetry.Source.StartActivity(Telemetry.BrokerTelemetry.UpstreamSpan, System.Diagnostics.ActivityKind.Client);
            span?.SetTag("mcp_broker.upstream", tool.Upstream.Name);
            span?.SetTag("mcp_broker.tool", tool.Tool.Name);
            Outcome<CallToolResult> outcome;
            try
            {
                // A stopped upstream starts for the call: the client hears of it while it does.
                var supervisor = lease.Supervisor;
                outcome = await StartProgress.WhileAsync(supervisor.CallToolAsync(sessionId, tool.Tool.Name, WithDefaults(tool, arguments), ct, idempotent, progress),
                    () => supervisor.Snapshot().State == "starting" ? [StartProgress.Label(tool.Upstream.Name, tool.Upstream.Command)] : [], progress, calls.Time, ct);
            }
            catch (Exception ex)
            {
                // Counted too (a cancellation as such, anything else as the internal error the client is told).
                var failed = ex is OperationCanceledException && ct.IsCancellationRequested ? BrokerErrorCode.Cancelled : BrokerErrorCode.Internal;
                calls.Record(profile.Name, tool.Upstream.Name, tool.Tool.Name, started, new BrokerError(failed, "", "").CodeName, ClientOf(sessionId));
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.GetType().Name);
                throw;
            }

            var toolError = outcome.Ok && outcome.Value!.IsError == true;
            var result = outcome.Ok ? toolError ? Telemetry.CallLog.ToolError : Telemetry.CallLog.Ok : outcome.Error!.CodeName;
            calls.Record(profile.Name, tool.Upstream.Name, tool.Tool.Name, started, result, ClientOf(sessionId));
            if (span is not null)
            {
                span.SetTag("mcp_broker.outcome", result);
                span.SetStatus(outcome.Ok && !toolError ? System.Diagnostics.ActivityStatusCode.Ok : System.Diagnostics.ActivityStatusCode.Error, outcome.Ok ? null : result);
            }

            if (outcome.Ok)
            {
                ResourceNames.ExposeIn(profile, tool.Upstream, outcome.Value!.Content);
            }

            return outcome;
        }
    }

    /// <summary>The name the session's client gave (its --client, or its clientInfo), for the recent calls; null over HTTP.</summary>
    private string? ClientOf(string sessionId) => peers?.Find(sessionId)?.Client;

    /// <summary>The tool's configured default arguments, under whatever the caller passed itself.</summary>
    private static IDictionary<string, JsonElement>? WithDefaults(ExposedTool tool, IDictionary<string, JsonElement>? arguments)
    {
        if (tool.Upstream.ToolOverrides.GetValueOrDefault(tool.Tool.Name) is not { Defaults.Count: > 0 } overrides)
        {
            return arguments;
        }

        var merged = new Dictionary<string, JsonElement>(overrides.Defaults, StringComparer.Ordinal);
        foreach (var (key, value) in arguments ?? new Dictionary<string, JsonElement>())
        {
            merged[key] = value;
        }

        return merged;
    }
}
