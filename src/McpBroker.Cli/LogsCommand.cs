using System.CommandLine;
using System.Text.Json;
using System.Text;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Upstreams;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker logs [--upstream NAME] [--lines N] [--follow] [--json]</c>: the end of the daemon's log (its JSON lines
/// as "time level source: message", or as they are with --json), or of one upstream's stderr file; --follow keeps
/// printing what is appended, across rotations, until interrupted.
/// </summary>
internal sealed class LogsCommand(TextWriter output, TextWriter error)
{
    /// <summary><c>logs [--upstream NAME] [-n N] [-f] [--json]</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var upstream = new Option<string?>("--upstream") { Description = "Show this upstream's stderr instead of the daemon's log", HelpName = "NAME" };
        var lines = new Option<int>("--lines", "-n") { Description = "How many of the last lines to print", HelpName = "N", DefaultValueFactory = _ => 50 };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing what is appended (across rotations) until interrupted" };
        var json = CommonOptions.Json("Print the daemon's log lines as they are stored (one JSON object each)");
        var logs = new Command("logs", "Print the end of the daemon's log or of an upstream's stderr") { upstream, lines, follow, json };
        logs.SetAction((r, ct) => new LogsCommand(r.Output(), r.Error()).RunAsync(r.GetValue(config), r.GetValue(upstream), r.GetValue(lines), r.GetValue(follow), r.GetValue(json), ct));
        return logs;
    }

    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(200);

    public async Task<int> RunAsync(string? configOption, string? upstream, int lines, bool follow, bool json, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error) is not { } target)
        {
            return ExitCodes.Failure;
        }

        if (lines < 0)
        {
            error.WriteLine("mcp-broker: --lines must be 0 or more");
            return ExitCodes.Usage;
        }

        if (upstream is not null && target.Model is { } model && model.FindUpstream(upstream) is null)
        {
            error.WriteLine($"mcp-broker: no upstream named '{upstream}' in {model.SourcePath}{DidYouMean.Hint(upstream, model.Upstreams.Select(u => u.Name))}; defined: {string.Join(", ", model.Upstreams.Select(u => u.Name))}");
            return ExitCodes.Failure;
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
                output.WriteLine(Show(line));
            }
        }
        else if (!follow)
        {
            error.WriteLine($"no log yet at {path}" + (upstream is null ? " (a daemon in the foreground logs to its terminal)" : $" (upstream '{upstream}' has not written to stderr since it was configured)"));
            return ExitCodes.Ok;
        }

        if (!follow)
        {
            return ExitCodes.Ok;
        }

        try
        {
            await FollowAsync(path, position, line => output.WriteLine(Show(line)), ct);
        }
        catch (OperationCanceledException)
        {
        }

        return ExitCodes.Ok;
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
