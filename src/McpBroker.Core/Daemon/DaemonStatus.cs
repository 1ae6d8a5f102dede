using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Platform;
using McpBroker.Sessions;
using McpBroker.Upstreams;

namespace McpBroker.Daemon;

/// <summary>
/// What <c>mcp-broker status</c>, <c>mcp-broker top</c> and the status page show: the daemon, its client sessions,
/// every upstream with its call counters and latency, the recent calls, and (on request) the context each profile
/// saves, as one JSON object built from live state. Starts nothing; holds no secret (auth is the passive probe's
/// verdict, URLs carry no credentials, calls are named by tool only — never their arguments or results).
/// </summary>
internal sealed class DaemonStatus(ConfigState config, UpstreamRegistry registry, ToolCatalog catalog, Facade.BrokerFacade facade, ClientPeers peers, Telemetry.CallLog calls,
    TimeProvider time)
{
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();
    private readonly Lock _contextGate = new();
    // Keyed by the model object itself: a version read after the model could pair a reload's number with the old model.
    private (long Catalog, BrokerModel Config, JsonArray Json)? _context;
    private (long Catalog, BrokerModel Config, Task<JsonArray> Task)? _computing;

    /// <summary>
    /// How long a status request waits for the context measure of a changed catalog: a normal catalog takes
    /// milliseconds; a huge one (max_tools tools of max_tool_bytes each) can take a minute, and is shown when done.
    /// </summary>
    public static readonly TimeSpan ContextWait = TimeSpan.FromSeconds(3);

    /// <param name="withContext">Add what each profile's tool list costs against the raw tools (tokenized once per profile and catalog version).</param>
    public JsonObject Build(bool withContext = false)
    {
        var now = time.GetUtcNow();
        var snapshot = catalog.Current;
        var model = config.Current;
        var status = new JsonObject
        {
            ["daemon"] = new JsonObject
            {
                ["pid"] = Environment.ProcessId,
                ["version"] = BrokerInfo.Version,
                ["started_at"] = _startedAt,
                ["uptime_seconds"] = (long)(now - _startedAt).TotalSeconds,
                ["config"] = model.SourcePath,
                ["socket"] = model.Runtime.SocketPath,
                ["socket_activated"] = Platform.SocketActivation.Used,
                ["http"] = model.Settings.Http?.Url("PROFILE"),
                // Log lines that could not be written (disk full, read-only root): the daemon kept serving meanwhile.
                ["log_lines_dropped"] = RotatingFile.DroppedLines,
                // Where upstreams' environment and env_from values come from (names only: some values are secrets).
                ["environment"] = Config.DaemonEnvironment.Current is { } environment ? new JsonObject
                {
                    ["file"] = environment.File,
                    ["source"] = environment.Source,
                    ["captured_at"] = environment.CapturedAt,
                    ["from_shell"] = environment.FromShell,
                    ["service_file"] = environment.ServiceFile,
                    ["variables"] = new JsonArray([.. environment.Names.Select(n => (JsonNode)n)]),
                } : null,
            },
            ["config"] = new JsonObject
            {
                ["path"] = model.SourcePath,
                ["version"] = config.Version,
                ["loaded_at"] = config.LoadedAt,
                ["rejected"] = config.RejectedErrors is { } errors ? new JsonObject
                {
                    ["at"] = config.RejectedAt,
                    ["errors"] = new JsonArray([.. errors.Select(e => (JsonNode)e)]),
                } : null,
            },
            ["sessions"] = new JsonArray([.. peers.All.OrderBy(p => p.Since).Select(p => (JsonNode)new JsonObject
            {
                ["id"] = p.Id,
                ["client"] = p.Label,
                ["client_info"] = p.Server.ClientInfo is { } info ? $"{info.Name} {info.Version}" : null,
                ["wired_as"] = p.Client,
                ["profile"] = p.Profile.Name,
                ["since"] = p.Since,
                ["uptime_seconds"] = (long)(now - p.Since).TotalSeconds,
            })]),
            ["upstreams"] = new JsonArray([.. model.Upstreams.Select(u => (JsonNode)Upstream(u, snapshot, now))]),
            ["recent_calls"] = new JsonArray([.. calls.Recent().Select(c => (JsonNode)new JsonObject
            {
                ["at"] = new DateTimeOffset(c.AtTicks, TimeSpan.Zero),
                ["client"] = c.Client,
                ["profile"] = c.Profile,
                ["upstream"] = c.Upstream,
                ["tool"] = c.Tool,
                ["duration_ms"] = c.Refused ? null : Telemetry.CallLog.Ms(c.ElapsedTicks),
                ["outcome"] = c.Outcome,
                ["refused"] = c.Refused ? true : null,
            })]),
            ["context"] = null,
        };
        if (withContext)
        {
            var (context, current) = Context(model, snapshot);
            status["context"] = context.DeepClone();
            // Still being measured after a catalog or config change: the figures are the last ones (none the first time).
            status["context_pending"] = !current;
        }

        // Every route of status (CLI, top, broker.status, the page) leaves the daemon through here: one masking step.
        SecretMask.Mask(status);
        return status;
    }

    /// <summary>
    /// Per profile: what its tools/list costs a model (the four broker tools when compact) against the upstream tools it
    /// exposes, in o200k tokens — <see cref="Facade.ProfileContext"/>, the figures broker.status, measure and tools count
    /// give. Cached until the catalog or the config changes, and
    /// measured off the request: a request waits at most <see cref="ContextWait"/>, then gets the last figures (not
    /// current) while the measure goes on — a status page or <c>top</c> never stalls behind a huge catalog.
    /// </summary>
    private (JsonArray Json, bool Current) Context(BrokerModel model, CatalogSnapshot snapshot)
    {
        Task<JsonArray> task;
        lock (_contextGate)
        {
            if (_context is { } cached && cached.Catalog == snapshot.Version && ReferenceEquals(cached.Config, model))
            {
                return (cached.Json, true);
            }

            if (_computing is not { } computing || computing.Catalog != snapshot.Version || !ReferenceEquals(computing.Config, model))
            {
                _computing = (snapshot.Version, model, Task.Run(() => MeasureContext(model, snapshot)));
            }

            task = _computing.Value.Task;
        }

        try
        {
            if (task.Wait(ContextWait))
            {
                return (task.Result, true);
            }
        }
        catch (AggregateException)
        {
            // A measure that failed is not cached: the next request tries again.
        }

        lock (_contextGate)
        {
            if (_computing?.Task == task && task.IsCompleted)
            {
                _computing = null;
            }

            return (_context?.Json ?? [], false);
        }
    }

    private JsonArray MeasureContext(BrokerModel model, CatalogSnapshot snapshot)
    {
        JsonArray json = [.. model.Profiles.Values.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => (JsonNode)facade.Context(p).ToJson())];
        lock (_contextGate)
        {
            _context = (snapshot.Version, model, json);
        }

        return json;
    }

    private JsonObject Upstream(UpstreamModel upstream, CatalogSnapshot snapshot, DateTimeOffset now)
    {
        var entry = new JsonObject
        {
            ["name"] = upstream.Name,
            ["transport"] = upstream.Transport.ToString().ToLowerInvariant(),
            ["mode"] = upstream.Mode switch
            {
                UpstreamMode.PerSession => "per_session",
                UpstreamMode.PerCall => "per_call",
                UpstreamMode.Disabled => "disabled",
                _ => "shared",
            },
            ["url"] = upstream.Remote?.DisplayUrl,
            ["auth"] = AuthProbe.Of(upstream, Config.DaemonEnvironment.Get, now).ToJson(),
        };
        if (upstream.Mode == UpstreamMode.Disabled)
        {
            entry["state"] = "disabled";
            return entry;
        }

        // A shared upstream has one instance; a per-session one has one per session that used it (reported together).
        var states = registry.States(upstream.Name);
        var running = states.Where(s => s.State == "running").ToList();
        entry["state"] = states.Count == 1 ? states[0].State : running.Count > 0 ? "running" : "stopped";
        entry["pids"] = new JsonArray([.. running.Where(s => s.Pid is not null).Select(s => (JsonNode)s.Pid!.Value)]);
        entry["instances"] = running.Count;
        entry["sessions"] = states.Sum(s => s.Sessions);
        entry["in_flight"] = states.Sum(s => s.InFlight);
        entry["queued"] = registry.Queued(upstream.Name);
        entry["restarts"] = states.Sum(s => s.Restarts);
        entry["failures"] = states.Select(s => s.ConsecutiveFailures).DefaultIfEmpty(0).Max();
        entry["last_error"] = states.Select(s => s.LastError).LastOrDefault(e => e is not null);
        entry["retry_at"] = states.Select(s => s.RetryAt).Max();
        // The revision negotiated at the last start (remembered across restarts until the upstream is started afresh).
        entry["protocol"] = states.Select(s => s.Protocol).LastOrDefault(p => p is not null) ?? registry.Protocols.Recall(upstream);
        entry["tools"] = snapshot.Upstreams.TryGetValue(upstream.Name, out var tools) ? tools.Tools.Count : null;
        // What the catalog's limits (max_tools, max_tool_bytes) cut from its list.
        entry["catalog_warnings"] = new JsonArray([.. (tools?.Warnings ?? []).Select(w => (JsonNode)w)]);
        foreach (var (key, value) in calls.Summary(upstream.Name).ToList())
        {
            entry[key] = value?.DeepClone();
        }

        if (upstream.Limits is not null)
        {
            entry["limits"] = ResourceCeiling.Status(upstream.Limits, states);
        }

        var lastUsed = running.Select(s => s.LastUsedAt).Max();
        entry["idle_seconds"] = running.Count > 0 && entry["in_flight"]!.GetValue<int>() == 0 && lastUsed is { } used ? (long)(now - used).TotalSeconds : null;
        return entry;
    }
}
