using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Upstreams;

namespace McpBroker.Daemon;

/// <summary>
/// What <c>mcp-broker status</c> shows: the daemon, its client sessions and every upstream, as one JSON object built
/// from live state. Starts nothing; holds no secret (auth is the passive probe's verdict, URLs carry no credentials).
/// </summary>
internal sealed class DaemonStatus(ConfigState config, UpstreamRegistry registry, ToolCatalog catalog, ClientPeers peers, TimeProvider time)
{
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();

    public JsonObject Build()
    {
        var now = time.GetUtcNow();
        var snapshot = catalog.Current;
        var model = config.Current;
        return new JsonObject
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
                ["client"] = p.Client,
                ["client_info"] = p.Server.ClientInfo is { } info ? $"{info.Name} {info.Version}" : null,
                ["profile"] = p.Profile.Name,
                ["since"] = p.Since,
            })]),
            ["upstreams"] = new JsonArray([.. model.Upstreams.Select(u => (JsonNode)Upstream(u, snapshot, now))]),
        };
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
            ["auth"] = AuthProbe.Of(upstream, Environment.GetEnvironmentVariable, now).ToJson(),
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
        entry["restarts"] = states.Sum(s => s.Restarts);
        entry["failures"] = states.Select(s => s.ConsecutiveFailures).DefaultIfEmpty(0).Max();
        entry["last_error"] = states.Select(s => s.LastError).LastOrDefault(e => e is not null);
        entry["retry_at"] = states.Select(s => s.RetryAt).Max();
        entry["tools"] = snapshot.Upstreams.TryGetValue(upstream.Name, out var tools) ? tools.Tools.Count : null;
        var lastUsed = running.Select(s => s.LastUsedAt).Max();
        entry["idle_seconds"] = running.Count > 0 && entry["in_flight"]!.GetValue<int>() == 0 && lastUsed is { } used ? (long)(now - used).TotalSeconds : null;
        return entry;
    }
}
