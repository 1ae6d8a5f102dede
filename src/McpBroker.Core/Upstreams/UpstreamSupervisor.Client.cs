using System.Text.Json.Nodes;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// The supervisor's MCP client: what it offers an upstream at the handshake (revision, probe timeout, capabilities),
/// the notifications it handles from it, and the client notifications it passes on to it.
/// </summary>
internal sealed partial class UpstreamSupervisor
{
    /// <summary>How long a server of unknown era has to answer server/discover before it is taken for a session-era one (the SDK's default).</summary>
    private static readonly TimeSpan s_discoverProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Negotiated, never pinned, unless <paramref name="revision"/> is one the upstream answered before. With no version set
    /// the SDK offers 2026-07-28 by <c>server/discover</c>; any error or no answer within the probe timeout means a
    /// session-era server, which then gets <c>initialize</c> at the newest revision the SDK speaks and may answer any
    /// revision the SDK supports (2024-11-05 … 2025-11-25). A set version is one the SDK demands back exactly: that is
    /// why it is only ever one the upstream chose itself. A server known to be stateless is given the whole start timeout
    /// to answer the probe (a slow start must not be taken for an old server).
    /// </summary>
    private McpClientOptions ClientOptions(string? revision)
    {
        var offered = _routing.Offered();
        return new()
        {
            ClientInfo = new Implementation { Name = "mcp-broker", Version = BrokerInfo.Version },
            ProtocolVersion = revision,
            DiscoverProbeTimeout = _revisions.Current is { } known && ProtocolMemory.IsStateless(known) ? Model.StartTimeout : s_discoverProbeTimeout,
            InitializationTimeout = Model.StartTimeout,
            Capabilities = offered,
            Handlers = _routing.Handlers(new McpClientHandlers
            {
                NotificationHandlers =
                [
                    new(NotificationMethods.ToolListChangedNotification, (_, _) =>
                    {
                        _toolsChanged?.Invoke(this, ToolsChange.ListChanged);
                        return ValueTask.CompletedTask;
                    }),
                    // Over stdio logs are read in order by the output tap instead (see StdioLauncher).
                    new(ClientRouting.LogMethod, (notification, _) =>
                        Model.Remote is not null && notification.Params is JsonObject p ? _routing.RelayLogAsync(p) : ValueTask.CompletedTask),
                    new(NotificationMethods.ResourceUpdatedNotification, (notification, _) =>
                        notification.Params is JsonObject p ? _routing.RelayResourceUpdatedAsync(p, _subscriptions.SubscribersOf) : ValueTask.CompletedTask),
                    new(NotificationMethods.ResourceListChangedNotification, (_, _) => _routing.RelayListChangedAsync(NotificationMethods.ResourceListChangedNotification)),
                    new(NotificationMethods.PromptListChangedNotification, (_, _) => _routing.RelayListChangedAsync(NotificationMethods.PromptListChangedNotification)),
                ],
            }, offered),
        };
    }

#pragma warning disable MCP9005 // roots are deprecated from protocol 2026-07-28 (SEP-2577); today's servers still use them
    /// <summary>Passes a client's notification (roots/list_changed) on to the running instance, if any.</summary>
    public async Task ForwardAsync(string method)
    {
        if (Running() is { } instance)
        {
            try
            {
                await instance.Client.SendNotificationAsync(method);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                // It has just ended; the next instance asks for roots itself.
            }
        }
    }
#pragma warning restore MCP9005
}
