using Microsoft.Extensions.Logging;

namespace McpBroker.Daemon;

/// <summary>
/// Appends log lines to <c>logs/daemon.log</c>, rotating at 5 MB and keeping three old files. Hand-written because
/// Microsoft.Extensions.Logging ships no file sink and a detached daemon has no console.
/// </summary>
internal sealed class FileLoggerProvider : ILoggerProvider
{
    private const long MaxBytes = 5 * 1024 * 1024;
    private const int Keep = 3;
    private readonly string _path;
    private readonly Lock _gate = new();
    private StreamWriter _writer;

    public FileLoggerProvider(string directory)
    {
        Directory.CreateDirectory(directory);
        _path = Path.Combine(directory, "daemon.log");
        _writer = Open();
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose()
    {
        lock (_gate)
        {
            _writer.Dispose();
        }
    }

    private StreamWriter Open()
    {
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new StreamWriter(new FileStream(_path, options)) { AutoFlush = true };
    }

    private void Write(string line)
    {
        lock (_gate)
        {
            _writer.WriteLine(line);
            if (_writer.BaseStream.Length < MaxBytes)
            {
                return;
            }

            _writer.Dispose();
            for (var i = Keep - 1; i >= 1; i--)
            {
                if (File.Exists($"{_path}.{i}"))
                {
                    File.Move($"{_path}.{i}", $"{_path}.{i + 1}", overwrite: true);
                }
            }

            File.Move(_path, $"{_path}.1", overwrite: true);
            _writer = Open();
        }
    }

    private sealed class FileLogger(FileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {logLevel.ToString()[..4].ToUpperInvariant()} {category}[{eventId.Id}] {formatter(state, exception)}";
            provider.Write(exception is null ? line : $"{line}\n  {exception.GetType().Name}: {exception.Message}");
        }
    }
}
