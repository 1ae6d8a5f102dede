using System.Collections.Concurrent;
using McpBroker.Platform;

namespace McpBroker.Upstreams;

/// <summary>Each upstream's stderr in its own rotated file, <c>{runtime.root}/logs/upstreams/NAME.log</c> (instances of one upstream share it).</summary>
internal sealed class UpstreamLogs(string logsDir) : IDisposable
{
    public const long MaxBytes = 1024 * 1024;
    public const int Keep = 3;
    private readonly ConcurrentDictionary<string, RotatingFile> _files = new(StringComparer.Ordinal);

    public static string PathOf(string logsDir, string upstream) => System.IO.Path.Combine(logsDir, "upstreams", upstream + ".log");

    public RotatingFile For(string upstream) => _files.GetOrAdd(upstream, name => new RotatingFile(PathOf(logsDir, name), MaxBytes, Keep));

    public void Dispose()
    {
        foreach (var file in _files.Values)
        {
            file.Dispose();
        }
    }
}
