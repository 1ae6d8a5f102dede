using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Sessions;
using McpBroker.Upstreams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace McpBroker.Daemon;

/// <summary>The daemon's answers to the control requests a hello line can carry (see <see cref="IControlRequests"/>).</summary>
internal sealed partial class DaemonControl(
    ConfigState config,
    ToolCatalog catalog,
    UpstreamRegistry registry,
    DaemonStatus status,
    ConfigReloader reloader,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory) : IControlRequests
{
    // Under the listener's category, where these requests were logged before they moved here.
    private readonly ILogger _logger = loggerFactory.CreateLogger<SessionListener>();

    public async Task<WelcomeMessage> AnswerAsync(HelloMessage message, CancellationToken ct)
    {
        var model = config.Current;
        switch (message.Control)
        {
            case "ping":
                return new WelcomeMessage { Ok = true, DaemonPid = Environment.ProcessId };
            case "reload":
                var (reloaded, outcome) = await reloader.ReloadAsync("a reload request");
                return reloaded
                    ? new WelcomeMessage { Ok = true, DaemonPid = Environment.ProcessId, Message = outcome }
                    : SessionListener.Refuse("invalid_config", outcome);
            case "status" or "top":
                return new WelcomeMessage { Ok = true, DaemonPid = Environment.ProcessId, Status = status.Build(withContext: message.Control == "top") };
            case "restart":
                var known = message.Upstream is { } name && await registry.RestartAsync(name);
                if (known)
                {
                    catalog.RetryFailedListingNow(message.Upstream!);
                }

                return known
                    ? new WelcomeMessage { Ok = true, DaemonPid = Environment.ProcessId, Message = $"upstream '{message.Upstream}' restarts on its next request" }
                    : SessionListener.Refuse("unknown_upstream", $"no enabled upstream named '{message.Upstream}' in {model.SourcePath}; defined: {string.Join(", ", registry.Models.Select(m => m.Name))}");
            case "approve":
                var approved = await catalog.ApproveAsync(message.Upstream ?? "", message.Tool, ct);
                return approved.Ok
                    ? new WelcomeMessage { Ok = true, DaemonPid = Environment.ProcessId, Message = approved.Value }
                    : SessionListener.Refuse(approved.Error!.CodeName, $"{approved.Error.Message}; {approved.Error.Hint}");
            case "warm":
                return await WarmAsync(message.Profile, ct);
            case "stop":
                LogStopRequested();
                return new WelcomeMessage { Ok = true, DaemonPid = Environment.ProcessId };
            default:
                return SessionListener.Refuse("bad_hello", $"unknown control request '{message.Control}'");
        }
    }

    public void AfterAnswer(HelloMessage request)
    {
        if (request.Control == "stop")
        {
            lifetime.StopApplication();
        }
    }

    /// <summary>
    /// Fills the catalog for a profile's upstreams (all enabled ones without a profile), starting them as needed, the
    /// way a session's first search would; per upstream its tool count or why it could not be listed.
    /// </summary>
    private async Task<WelcomeMessage> WarmAsync(string? profileName, CancellationToken ct)
    {
        var current = config.Current;
        ProfileModel? profile = null;
        if (profileName is not null && !current.Profiles.TryGetValue(profileName, out profile))
        {
            return SessionListener.Refuse("unknown_profile", $"no profile named '{profileName}' in {current.SourcePath}; defined: {string.Join(", ", current.Profiles.Keys)}");
        }

        var enabled = current.EnabledUpstreams(profile).Select(u => u.Name).ToList();
        var (snapshot, failures) = await catalog.EnsureAsync(enabled, sessionId: null, ct);
        var upstreams = new JsonObject();
        foreach (var name in enabled)
        {
            upstreams[name] = failures.TryGetValue(name, out var error)
                ? new JsonObject { ["error"] = $"{error.Message}; {error.Hint}" }
                : new JsonObject { ["tools"] = snapshot.Upstreams.GetValueOrDefault(name)?.Tools.Count ?? 0 };
        }

        return new WelcomeMessage
        {
            Ok = true,
            DaemonPid = Environment.ProcessId,
            Message = $"{enabled.Count - failures.Count} of {enabled.Count} upstream(s) listed",
            Status = new JsonObject { ["upstreams"] = upstreams },
        };
    }

    [LoggerMessage(EventId = 304, Level = LogLevel.Information, Message = "Stop requested over the socket")]
    private partial void LogStopRequested();
}
