using Microsoft.Extensions.Logging;
using ModelContextProtocol;

namespace McpBroker.Sessions;

/// <summary>
/// The loggers a client session's MCP server gets. The SDK logs every request handler that fails at Warning with its
/// exception; when the failure is a protocol error answered to the client (a compact session asked for prompts/list or
/// resources/list, which it does not declare: "method not found"; bad params) that is the client's business, not a fault
/// of the daemon: Debug, one line, no stack (as is the SDK's "no handler is available" before it). Any other failure
/// keeps its level and exception.
/// </summary>
internal sealed class ClientErrorLogging(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(inner.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The inner factory is the host's; it disposes it.
    }

    private sealed class Logger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The SDK first says it has no handler for the method (its event is named after its log method), then that the
            // handler failed with the "method not found" it answers.
            if (logLevel == LogLevel.Warning && eventId.Name == "LogNoHandlerFoundForRequest")
            {
                inner.Log(LogLevel.Debug, eventId, state, exception, formatter);
                return;
            }

            if (logLevel == LogLevel.Warning && exception is McpProtocolException protocol)
            {
                inner.Log(LogLevel.Debug, eventId, state, null, (s, _) => $"{formatter(s, null)} ({protocol.ErrorCode}: {protocol.Message})");
                return;
            }

            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
