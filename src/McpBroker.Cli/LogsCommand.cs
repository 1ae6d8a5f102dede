using System.Text;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker logs [--upstream NAME] [--lines N] [--follow] [--json]</c>: the end of the daemon's log (its JSON lines
/// as "time level source: message", or as they are with --json), or of one upstream's stderr file; --follow keeps
/// printing what is appended, across rotations, until interrupted.
/// </summary>
internal static class LogsCommand
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(200);

    public static async Task<int> RunAsync(string? configOption, string? upstream, int lines, bool follow, bool json, CancellationToken ct)
    {
        if (ConfigCommands.LoadTarget(configOption) is not { } target)
        {
            return 1;
        }

        if (lines < 0)
        {
            Console.Error.WriteLine("mcp-broker: --lines must be 0 or more");
            return 2;
        }

        if (upstream is not null && target.Model is { } model && model.FindUpstream(upstream) is null)
        {
            Console.Error.WriteLine($"mcp-broker: no upstream named '{upstream}' in {model.SourcePath}{DidYouMean.Hint(upstream, model.Upstreams.Select(u => u.Name))}; defined: {string.Join(", ", model.Upstreams.Select(u => u.Name))}");
            return 1;
        }

        var path = upstream is null ? Path.Combine(target.Runtime.LogsDir, FileLoggerProvider.FileName) : UpstreamLogs.PathOf(target.Runtime.LogsDir, upstream);
        string Show(string line) => upstream is null && !json ? Readable(line) : line;
        long position = 0;
        if (File.Exists(path))
        {
            var tail = new Queue<string>();
            using (var stream = Open(path))
            using (var reader = new StreamReader(stream, Encoding.UTF8))
            {
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    tail.Enqueue(line);
                    if (tail.Count > lines)
                    {
                        tail.Dequeue();
                    }
                }

                position = stream.Length;
            }

            foreach (var line in tail)
            {
                Console.WriteLine(Show(line));
            }
        }
        else if (!follow)
        {
            Console.Error.WriteLine($"no log yet at {path}" + (upstream is null ? " (a daemon in the foreground logs to its terminal)" : $" (upstream '{upstream}' has not written to stderr since it was configured)"));
            return 0;
        }

        if (!follow)
        {
            return 0;
        }

        try
        {
            await FollowAsync(path, position, line => Console.WriteLine(Show(line)), ct);
        }
        catch (OperationCanceledException)
        {
        }

        return 0;
    }

    /// <summary>Prints lines appended after <paramref name="position"/>; a file that shrank was rotated and is read from its start.</summary>
    private static async Task FollowAsync(string path, long position, Action<string> print, CancellationToken ct)
    {
        var partial = new StringBuilder();
        var buffer = new byte[64 * 1024];
        using var timer = new PeriodicTimer(s_poll);
        while (await timer.WaitForNextTickAsync(ct))
        {
            if (!File.Exists(path))
            {
                continue;
            }

            using var stream = Open(path);
            if (stream.Length < position)
            {
                position = 0;
            }

            stream.Seek(position, SeekOrigin.Begin);
            int read;
            while ((read = await stream.ReadAsync(buffer, ct)) > 0)
            {
                position += read;
                partial.Append(Encoding.UTF8.GetString(buffer, 0, read));
                var text = partial.ToString();
                var end = text.LastIndexOf('\n');
                if (end < 0)
                {
                    continue;
                }

                foreach (var line in text[..end].Split('\n'))
                {
                    print(line);
                }

                partial.Clear().Append(text[(end + 1)..]);
            }
        }
    }

    private static FileStream Open(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    /// <summary>A daemon log line for people: "time level source: message"; a line that is not one of ours as it is.</summary>
    internal static string Readable(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var category = root.TryGetProperty("category", out var c) ? c.GetString() ?? "" : "";
            var source = category[(category.LastIndexOf('.') + 1)..];
            var text = $"{root.GetProperty("ts").GetString()} {root.GetProperty("level").GetString()!.ToUpperInvariant(),-5} {source}: {root.GetProperty("message").GetString()}";
            return root.TryGetProperty("exception", out var ex) ? $"{text}\n  {ex.GetString()}" : text;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return line;
        }
    }
}
