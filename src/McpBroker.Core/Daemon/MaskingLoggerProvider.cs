using Microsoft.Extensions.Logging;

namespace McpBroker.Daemon;

/// <summary>
/// Puts a logger provider we do not own (the console's, for a daemon in the foreground) behind the daemon's one masking
/// step: each message, and an exception's text, is masked (<see cref="Config.SecretMask"/>) before the inner logger
/// formats it. <see cref="FileLoggerProvider"/> masks its lines itself (it also writes the message's named values).
/// </summary>
internal sealed class MaskingLoggerProvider(ILoggerProvider inner) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new MaskingLogger(inner.CreateLogger(categoryName));

    public void Dispose() => inner.Dispose();

    private sealed class MaskingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var masked = exception;
            if (exception?.ToString() is { } full && Config.SecretMask.Mask(full) is var text && !ReferenceEquals(text, full))
            {
                masked = new MaskedException(text);
            }

            inner.Log(logLevel, eventId, state, masked, (s, e) => Config.SecretMask.Mask(formatter(s, exception)));
        }
    }

    /// <summary>Stands in for an exception whose text carried a secret: it prints as the masked text.</summary>
    private sealed class MaskedException(string text) : Exception(text)
    {
        public override string ToString() => Message;
    }
}
