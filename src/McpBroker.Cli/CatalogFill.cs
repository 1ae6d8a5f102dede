using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Upstreams;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// The first catalog fill: the daemon starts a profile's upstreams and lists their tools (a <c>warm</c> control
/// request). Meanwhile each upstream's progress is shown from the daemon's status, polled: waiting, starting with the
/// seconds so far, whether npx (uvx …) is downloading its package (read from the upstream's stderr log, or guessed
/// from a package runner that has been silent for seconds), listing, then its tool count and time or why it failed.
/// On a terminal that is a live table; with <c>plain</c> set (output not a terminal) one line per change.
/// </summary>
internal sealed partial class CatalogFill(TextWriter output)
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(200);

    /// <summary>How long a package runner may start silently before the row says it is probably downloading.</summary>
    private static readonly TimeSpan s_silentDownload = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Before a command that is about to need the profile's tools: fills the catalog first, with the live table on a
    /// terminal, so a slow first start is seen as it happens (and an upstream without a probe still gets listed).
    /// </summary>
    public async Task FillAsync(BrokerModel model, string profile, bool json, CancellationToken ct) =>
        await RunAsync(model, profile, show: !json && Terminal.IsTerminal(output), ct);

    /// <summary>Fills the catalog for the profile's upstreams; per upstream its tool count or error, or null when the daemon did not answer.</summary>
    /// <param name="plain">Progress as plain lines on stdout (for output that is not a terminal) instead of nothing.</param>
    public async Task<JsonObject?> RunAsync(BrokerModel model, string? profile, bool show, CancellationToken ct, bool plain = false)
    {
        var upstreams = model.EnabledUpstreams(profile is null ? null : model.Profiles[profile]).ToList();
        var timeout = model.Upstreams.Select(u => u.StartTimeout).DefaultIfEmpty(TimeSpan.Zero).Max() + TimeSpan.FromSeconds(60);
        var watches = upstreams.Select(u => new Watch(u, UpstreamLogs.PathOf(model.Runtime.LogsDir, u.Name))).ToList();
        var warm = DaemonClient.ControlAsync(model.Runtime.SocketPath, "warm", timeout, profile: profile);
        if ((!show && !plain) || upstreams.Count == 0)
        {
            return (await warm)?.Status?["upstreams"]?.AsObject();
        }

        if (!show)
        {
            return await PlainAsync(model, watches, warm, ct);
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("upstream", "catalog");
        foreach (var watch in watches)
        {
            table.AddRow(Markup.Escape(watch.Name), "[grey]waiting[/]");
        }

        JsonObject? result = null;
        await AnsiConsole.Live(table).AutoClear(false).StartAsync(async live =>
        {
            while (!warm.IsCompleted)
            {
                var states = await StatesAsync(model, ct);
                for (var i = 0; i < watches.Count; i++)
                {
                    table.UpdateCell(i, 1, watches[i].Progress(states.GetValueOrDefault(watches[i].Name)));
                }

                live.Refresh();
                await Task.WhenAny(warm, Task.Delay(s_poll, ct));
            }

            result = (await warm)?.Status?["upstreams"]?.AsObject();
            for (var i = 0; i < watches.Count; i++)
            {
                table.UpdateCell(i, 1, watches[i].Outcome(result?[watches[i].Name]?.AsObject()));
            }

            live.Refresh();
        });
        return result;
    }

    /// <summary>Progress as lines: one each time an upstream's row changes (its seconds counted in steps of five), then its outcome.</summary>
    private async Task<JsonObject?> PlainAsync(BrokerModel model, List<Watch> watches, Task<McpBroker.Sessions.WelcomeMessage?> warm, CancellationToken ct)
    {
        var shown = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!warm.IsCompleted)
        {
            var states = await StatesAsync(model, ct);
            foreach (var watch in watches)
            {
                var line = watch.PlainProgress(states.GetValueOrDefault(watch.Name));
                if (line is not null && shown.GetValueOrDefault(watch.Name) != line)
                {
                    shown[watch.Name] = line;
                    output.WriteLine($"{watch.Name}: {line}");
                }
            }

            await Task.WhenAny(warm, Task.Delay(s_poll, ct));
        }

        return (await warm)?.Status?["upstreams"]?.AsObject();
    }

    private static async Task<Dictionary<string, JsonObject>> StatesAsync(BrokerModel model, CancellationToken ct)
    {
        var status = await DaemonClient.ControlAsync(model.Runtime.SocketPath, "status", TimeSpan.FromSeconds(5), cancellationToken: ct);
        return status?.Status?["upstreams"]?.AsArray().OfType<JsonObject>().ToDictionary(u => u["name"]!.GetValue<string>()) ?? [];
    }

    /// <summary>An upstream's outcome once the fill is done: its tool count, or why it could not be listed.</summary>
    internal static string Outcome(JsonObject? outcome) => outcome switch
    {
        null => "[red]no answer[/] (the daemon did not answer in time; mcp-broker logs)",
        _ when outcome["error"] is { } error => $"[red]failed[/]: {Markup.Escape(error.ToString())}",
        _ => $"[green]{outcome["tools"]} tool(s)[/]",
    };

    /// <summary>npm's "will be installed: PKG" (npx --yes), uv's "Downloading PKG": the runner is fetching the package.</summary>
    [GeneratedRegex(@"will be installed: (?<package>\S+)|Downloading (?<package>\S+)|Need to install the following packages")]
    private static partial Regex DownloadLine();

    /// <summary>One upstream's progress while the fill runs: how long it has been starting, and whether its runner downloads.</summary>
    private sealed class Watch(UpstreamModel model, string logPath)
    {
        private readonly long _logStart = File.Exists(logPath) ? new FileInfo(logPath).Length : 0;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan? _startedAt;
        private TimeSpan? _doneAt;
        private string? _download;

        public string Name => model.Name;

        /// <summary>npx, uvx, bunx, pnpx, or pnpm/yarn/bun dlx: a runner that may fetch the server before starting it.</summary>
        private string? Runner { get; } = Path.GetFileNameWithoutExtension(model.Command ?? "") is var command
            && (command is "npx" or "uvx" or "bunx" or "pnpx" || (command is "pnpm" or "yarn" or "bun" && model.Args.FirstOrDefault() is "dlx" or "x"))
            ? command : null;

        private string Seconds(TimeSpan since) => $"{(_clock.Elapsed - since).TotalSeconds:0} s";

        /// <summary>The row's text on a terminal (markup).</summary>
        public string Progress(JsonObject? state) => Describe(state) switch
        {
            (Phase.Listed, var text) => $"[green]{Markup.Escape(text)}[/]",
            (Phase.Failed, var text) => $"[red]{Markup.Escape(text)}[/]",
            (Phase.Waiting, var text) => $"[grey]{Markup.Escape(text)}[/]",
            (_, var text) => $"[yellow]{Markup.Escape(text)}[/]",
        };

        /// <summary>
        /// The line for plain output while the upstream starts, with seconds in steps of five so a long start prints a
        /// line now and then, not every poll (the outcome is the caller's line at the end).
        /// </summary>
        public string? PlainProgress(JsonObject? state) => Describe(state, secondsStep: 5) is (Phase.Starting or Phase.Failed, var text) ? text : null;

        public string Outcome(JsonObject? outcome) => outcome?["tools"] is { } tools && outcome["error"] is null
            ? $"[green]{tools} tool(s)[/]" + (_startedAt is { } started ? $" [grey]in {(_doneAt ?? _clock.Elapsed) - started:s\\.f} s[/]" : "")
            : CatalogFill.Outcome(outcome);

        private (Phase, string) Describe(JsonObject? state, int secondsStep = 1)
        {
            if (state?["tools"] is { } tools)
            {
                _doneAt ??= _clock.Elapsed;
                return (Phase.Listed, $"{tools} tool(s)" + (_startedAt is { } s ? $" in {(_doneAt.Value - s).TotalSeconds:0.0} s" : ""));
            }

            var kind = state?["state"]?.GetValue<string>();
            if (kind is "starting" or "running")
            {
                _startedAt ??= _clock.Elapsed;
            }

            var elapsed = _startedAt is { } since ? (int)((_clock.Elapsed - since).TotalSeconds / secondsStep) * secondsStep : 0;
            return kind switch
            {
                "starting" => (Phase.Starting, $"starting… {elapsed} s" + DownloadNote()),
                "running" => (Phase.Starting, $"listing tools… {elapsed} s"),
                "circuit_open" => (Phase.Failed, $"circuit open: {state!["last_error"]}"),
                { } other when state!["last_error"] is { } error => (Phase.Starting, $"{other} (last error: {error})"),
                _ => (Phase.Waiting, "waiting"),
            };
        }

        /// <summary>What the runner is doing, from its stderr since the fill began; or, for a runner silent for a while, a guess that says so.</summary>
        private string DownloadNote()
        {
            if (Runner is null)
            {
                return "";
            }

            _download ??= ReadDownload();
            return _download is { Length: > 0 } package ? $" ({Runner} is downloading {package})"
                : _download is not null ? $" ({Runner} is downloading the package)"
                : _startedAt is { } since && _clock.Elapsed - since > s_silentDownload ? $" ({Runner} is probably downloading the package: no output yet)"
                : "";
        }

        private string? ReadDownload()
        {
            try
            {
                using var log = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                log.Seek(Math.Min(_logStart, log.Length), SeekOrigin.Begin);
                using var reader = new StreamReader(log);
                while (reader.ReadLine() is { } line)
                {
                    if (DownloadLine().Match(line) is { Success: true } match)
                    {
                        return match.Groups["package"].Value;
                    }
                }
            }
            catch (IOException)
            {
                // No log yet: nothing said so far.
            }

            return null;
        }

        private enum Phase
        {
            Waiting,
            Starting,
            Listed,
            Failed,
        }
    }
}
