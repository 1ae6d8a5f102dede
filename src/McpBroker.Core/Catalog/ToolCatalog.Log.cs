using Microsoft.Extensions.Logging;

namespace McpBroker.Catalog;

/// <summary>The catalog's log messages (source-generated; event ids are stable).</summary>
internal sealed partial class ToolCatalog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Ignoring the unreadable tool cache of {Upstream}: {Reason}")]
    private partial void LogCacheUnreadable(string upstream, string reason);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Could not write the tool cache of {Upstream}: {Reason}")]
    private partial void LogCacheUnwritable(string upstream, string reason);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Ignoring the unreadable tool pins of {Upstream} (its pinned tools stay quarantined until approved): {Reason}")]
    private partial void LogPinsUnreadable(string upstream, string reason);

    [LoggerMessage(EventId = 203, Level = LogLevel.Warning, Message = "Tool {Upstream}.{Tool} is quarantined: {Reason}; approve it with: mcp-broker tools approve {Upstream} {Tool}")]
    private partial void LogQuarantined(string upstream, string tool, string reason);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Upstream {Upstream}'s tool list was cut to the catalog's limits: {Warning}")]
    private partial void LogLimited(string upstream, string warning);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "Could not refresh the tools of {Upstream}: {Reason}")]
    private partial void LogRefreshFailed(string upstream, string reason);
}
