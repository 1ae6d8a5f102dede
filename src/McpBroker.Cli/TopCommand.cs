using System.CommandLine;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Daemon;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker top</c>: the status page's picture in a terminal, redrawn every interval until Ctrl+C or q — upstreams
/// with their calls, errors and latency, sessions, recent calls, and the context each profile saves. With <c>--once</c>
/// (or when the output is not a terminal) it draws one frame and exits. Exit 0, or 3 when no daemon runs.
/// </summary>
internal sealed class TopCommand(TextWriter output, TextWriter error)
{
    /// <summary><c>top [--interval D] [--once]</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var interval = new Option<string>("--interval") { Description = "How often to redraw", HelpName = "DURATION", DefaultValueFactory = _ => "1s" };
        var once = new Option<bool>("--once") { Description = "Draw one frame and exit (also when the output is not a terminal)" };
        var top = new Command("top", "Watch the running daemon live (q quits)") { interval, once };
        top.SetAction((r, ct) => Duration.TryParse(r.GetValue(interval)!, out var every) && every.Value > TimeSpan.Zero
            ? new TopCommand(r.Output(), r.Error()).RunAsync(r.GetValue(config), every.Value, r.GetValue(once), ct)
            : Task.FromResult(r.Usage($"--interval '{r.GetValue(interval)}' is not a duration such as 1s or 500ms")));
        return top;
    }

    private const int RecentRows = 12;

    public async Task<int> RunAsync(string? configOption, TimeSpan interval, bool once, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error, out var missing) is not { } target)
        {
            return missing ? ExitCodes.NotRunning : ExitCodes.Failure;
        }

        var socket = target.Runtime.SocketPath;
        if (await FetchAsync(socket, ct) is not { } first)
        {
            return await new StatusCommand(output, error).NoAnswerAsync(target.Runtime.Root, socket, ct);
        }

        if (once || !Terminal.IsTerminal(output))
        {
            var console = Terminal.Console(output);
            console.Write(Frame(first, DateTimeOffset.UtcNow));
            return ExitCodes.Ok;
        }

        await AnsiConsole.Live(Frame(first, DateTimeOffset.UtcNow)).AutoClear(false).StartAsync(async live =>
        {
            while (!ct.IsCancellationRequested && !QuitPressed())
            {
                try
                {
                    await Task.Delay(interval, ct);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                var status = await FetchAsync(socket, ct);
                live.UpdateTarget(status is null
                    ? new Markup($"[red]the daemon stopped answering on {Markup.Escape(socket)}[/] (Ctrl+C or q to quit)")
                    : Frame(status, DateTimeOffset.UtcNow));
            }
        });
        return ExitCodes.Ok;
    }

    private static async Task<JsonObject?> FetchAsync(string socket, CancellationToken ct) =>
        await DaemonClient.ControlAsync(socket, "top", TimeSpan.FromSeconds(10), cancellationToken: ct) is { Ok: true, Status: { } status } ? status : null;

    private static bool QuitPressed()
    {
        if (Console.IsInputRedirected)
        {
            return false;
        }

        while (Console.KeyAvailable)
        {
            if (Console.ReadKey(intercept: true).Key is ConsoleKey.Q or ConsoleKey.Escape)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>One screen: a summary line and four tables.</summary>
    public IRenderable Frame(JsonObject status, DateTimeOffset now)
    {
        var daemon = status["daemon"]!;
        var sessionsList = status["sessions"]!.AsArray();
        var header = new Markup($"[bold]mcp-broker top[/] {Markup.Escape(Text(daemon["version"]))} · daemon pid {daemon["pid"]} · up {Ago(daemon["uptime_seconds"]!.GetValue<long>())} · {sessionsList.Count} session(s) · {Terminal.Time(now)} · Ctrl+C or q quits");

        var upstreams = new Table().Title("upstreams").AddColumns("name", "state", "pid", "mode", "sessions", "in flight", "queued", "calls", "errors", "p50 ms", "p95 ms", "restarts", "auth", "last error");
        foreach (var u in status["upstreams"]!.AsArray())
        {
            var state = Text(u!["state"]);
            var colour = state switch { "running" => "green", "stopped" or "disabled" => "grey", "starting" or "backoff" => "yellow", _ => "red" };
            var latency = u["latency_ms"];
            upstreams.AddRow(
                Markup.Escape(Text(u["name"])), $"[{colour}]{Markup.Escape(state)}[/]",
                string.Join(",", u["pids"]?.AsArray().Select(p => p!.ToString()) ?? []),
                Markup.Escape(Text(u["mode"])), Text(u["sessions"]), Text(u["in_flight"]), Text(u["queued"]), Text(u["calls"]),
                u["errors"]?.GetValue<long>() > 0 ? $"[red]{u["errors"]}[/]" : Text(u["errors"]),
                Terminal.Ms(latency?["p50"]), Terminal.Ms(latency?["p95"]), Text(u["restarts"]),
                Markup.Escape(Text(u["auth"]?["state"])), Markup.Escape(Text(u["last_error"]).Split('\n')[0]));
        }

        var sessions = new Table().Title("sessions").AddColumns("client", "profile", "uptime");
        foreach (var s in sessionsList)
        {
            sessions.AddRow(Markup.Escape(Text(s!["client_info"]) is { Length: > 0 } info ? info : Text(s["client"])),
                Markup.Escape(Text(s["profile"])), Ago(s["uptime_seconds"]?.GetValue<long>() ?? 0));
        }

        if (sessions.Rows.Count == 0)
        {
            sessions.AddRow("[grey]none[/]", "", "");
        }

        var calls = new Table().Title("recent calls").AddColumns("at", "client", "profile", "upstream", "tool", "ms", "outcome");
        foreach (var c in status["recent_calls"]?.AsArray().Take(RecentRows) ?? [])
        {
            var outcome = Text(c!["outcome"]) + (c["refused"] is not null ? " (refused)" : "");
            calls.AddRow(c["at"]!.GetValue<DateTimeOffset>().ToLocalTime().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(Text(c["client"])),
                Markup.Escape(Text(c["profile"])), Markup.Escape(Text(c["upstream"])), Markup.Escape(Text(c["tool"])), Terminal.Ms(c["duration_ms"]),
                outcome == "ok" ? "[green]ok[/]" : $"[red]{Markup.Escape(outcome)}[/]");
        }

        if (calls.Rows.Count == 0)
        {
            calls.AddRow("[grey]none yet[/]", "", "", "", "", "", "");
        }

        // The daemon's figures (Facade.ProfileContext): the same broker.status, measure and tools count give.
        var context = new Table().Title("context saved per profile").AddColumns("profile", "view", "catalogued", "exposed tools", "their tokens", "hidden", "listed tools", "listed tokens", "saved");
        foreach (var p in status["context"]?.AsArray() ?? [])
        {
            var hidden = string.Join(", ", new[] { Count(p!["mutating_hidden"], "mutating"), Count(p["quarantined"], "quarantined") }.OfType<string>());
            var overBudget = p["over_budget"] is not null;
            context.AddRow(Markup.Escape(Text(p["profile"])), p["compact"]?.GetValue<bool>() == true ? "compact" : "raw",
                $"{p["catalogued"]} of {p["upstreams"]}", Number(p["raw_tools"]), Number(p["raw_tokens"]), hidden,
                overBudget ? "[red]over budget[/]" : Number(p["listed_tools"]), overBudget ? "" : Number(p["listed_tokens"]),
                $"{Number(p["saved_tokens"])} ({p["saved_pct"]}%)");
        }

        return new Rows(header, upstreams, sessions, calls, context);
    }

    private static string Text(JsonNode? node) => node?.ToString() ?? "";

    private static string Number(JsonNode? node) => node is null ? "" : node.GetValue<int>().ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

    private static string? Count(JsonNode? node, string what) => node?.GetValue<int>() is > 0 and var n ? $"{n} {what}" : null;

    private static string Ago(long seconds) => seconds < 90 ? $"{seconds}s"
        : seconds < 5400 ? $"{seconds / 60}m"
        : seconds < 172800 ? $"{seconds / 3600}h"
        : $"{seconds / 86400}d";
}
