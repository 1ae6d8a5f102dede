using Microsoft.Extensions.Logging;

namespace McpBroker.Upstreams;

internal sealed partial class UpstreamSupervisor
{
    /// <summary>
    /// The log messages of the supervisor and its launchers (source-generated; event ids are stable), written under the
    /// supervisor's category.
    /// </summary>
    internal static partial class Log
    {
        [LoggerMessage(EventId = 115, Level = LogLevel.Warning, Message = "Upstream {Name}: its process record could not be written ({Reason}); it runs, but a daemon killed with -9 would leave it unreaped")]
        public static partial void RecordUnwritten(ILogger logger, string name, string reason);

        [LoggerMessage(EventId = 114, Level = LogLevel.Warning, Message = "Upstream {Name} ({Label}): {Reason}; restarting it")]
        public static partial void OverCeiling(ILogger logger, string name, string label, string reason);

        [LoggerMessage(EventId = 113, Level = LogLevel.Information, Message = "Upstream {Name} no longer answers protocol {Revision}, which it spoke last time; negotiating afresh")]
        public static partial void Reprobing(ILogger logger, string name, string revision);

        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Starting upstream {Name} (pid {Pid})")]
        public static partial void Starting(ILogger logger, string name, int pid);

        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Upstream {Name} failed to start ({Kind}); status shows the reason")]
        public static partial void StartFailed(ILogger logger, string name, string kind);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Upstream {Name} ({Label}) ended: {How}")]
        public static partial void Ended(ILogger logger, string name, string label, string how);

        [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Stopping upstream {Name} ({Label}): {Reason}")]
        public static partial void Stopping(ILogger logger, string name, string label, string reason);

        [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Upstream {Name} ({Label}) does not answer ping after a timeout; stopping it")]
        public static partial void Hung(ILogger logger, string name, string label);

        [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "Connecting to upstream {Name} at {Url}")]
        public static partial void Connecting(ILogger logger, string name, string url);

        [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "Upstream {Name}: the server ended the HTTP session (404); starting a new one and retrying once")]
        public static partial void SessionExpired(ILogger logger, string name);

        [LoggerMessage(EventId = 109, Level = LogLevel.Warning, Message = "Upstream {Name}: could not renew a resource subscription after a restart ({Kind})")]
        public static partial void ResubscribeFailed(ILogger logger, string name, string kind);

        [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Upstream {Name} answered HTTP {Status}; retry {Attempt}")]
        public static partial void Retrying(ILogger logger, string name, int status, int attempt);

        [LoggerMessage(EventId = 118, Level = LogLevel.Warning, Message = "Upstream {Name} wrote {What} longer than {Limit} bytes (broker.max_message_bytes); dropped")]
        public static partial void DroppedOversized(ILogger logger, string name, string what, int limit);

        [LoggerMessage(EventId = 119, Level = LogLevel.Debug, Message = "Upstream {Name}: notifications/cancelled for a request given up on could not be sent; the server may finish it")]
        public static partial void CancelNotSent(ILogger logger, string name);
    }
}
