using System.CommandLine;
using System.Text.Json.Nodes;
using System.Text.Json;
using McpBroker.Auth;
using McpBroker.Config;
using McpBroker.Daemon;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker status</c>: the running daemon, its sessions and upstreams — tables on a terminal, one JSON object when
/// the output is not a terminal or with <c>--json</c>. Exit 0 when a daemon answered, 3 when none runs.
/// </summary>
internal sealed class StatusCommand(TextWriter output, TextWriter error)
{
    /// <summary><c>status [--json|--table]</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var json = CommonOptions.Json("Print one JSON object (the default when the output is not a terminal)");
        var table = new Option<bool>("--table") { Description = "Print tables even when the output is not a terminal" };
        var status = new Command("status", "Show the running daemon, its sessions and upstreams") { json, table };
        status.SetAction((r, ct) => new StatusCommand(r.Output(), r.Error()).RunAsync(r.GetValue(config), r.GetValue(json), r.GetValue(table), ct));
        return status;
    }

    public async Task<int> RunAsync(string? configOption, bool json, bool table, CancellationToken ct)
    {
        if (CommandConfig.LoadTarget(configOption, error, out var missing) is not { } target)
        {
            // No config and no daemon: a first run. Nothing runs, so the answer is "not running", with the next step.
            if (missing && (json || (!Terminal.IsTerminal(output) && !table)))
            {
                output.WriteLine(new JsonObject { ["daemon"] = null, ["config"] = ConfigLoader.ResolvePath(configOption), ["config_missing"] = true }.ToJsonString());
            }

            return missing ? ExitCodes.NotRunning : ExitCodes.Failure;
        }

        var answer = await DaemonClient.ControlAsync(target.Runtime.SocketPath, "status", TimeSpan.FromSeconds(10), cancellationToken: ct);
        var asJson = json || (!Terminal.IsTerminal(output) && !table);
        if (answer is not { Ok: true, Status: { } status })
        {
            if (!asJson)
            {
                return await NoAnswerAsync(target.Runtime.Root, target.Runtime.SocketPath, ct);
            }

            var busy = await DaemonClient.ListeningAsync(target.Runtime.SocketPath, TimeSpan.FromSeconds(2), ct);
            output.WriteLine(new JsonObject
            {
                ["daemon"] = null,
                ["config"] = target.ConfigPath,
                ["socket"] = target.Runtime.SocketPath,
                ["error"] = busy ? "the daemon accepts connections but did not answer within 10 s" : null,
            }.ToJsonString());
            return busy ? ExitCodes.Failure : ExitCodes.NotRunning;
        }

        if (asJson)
        {
            output.WriteLine(status.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Render(status, Terminal.Console(output), DateTimeOffset.UtcNow);
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// Says why no status came: no daemon (exit 3), or one that accepts connections but did not answer in time (exit 1)
    /// — a busy daemon is not "no daemon", and starting another would not help.
    /// </summary>
    public async Task<int> NoAnswerAsync(string root, string socket, CancellationToken ct)
    {
        if (await DaemonClient.ListeningAsync(socket, TimeSpan.FromSeconds(2), ct))
        {
            error.WriteLine($"mcp-broker: the daemon for {root} accepts connections on {socket} but did not answer within 10 s; 'mcp-broker logs' shows what it is doing");
            return ExitCodes.Failure;
        }

        output.WriteLine($"no daemon running for {root} (socket {socket}); the first client starts one, or: mcp-broker daemon --detach");
        return ExitCodes.NotRunning;
    }

    /// <summary>Draws the status as a summary line and two tables.</summary>
    public static void Render(JsonObject status, IAnsiConsole console, DateTimeOffset now)
    {
        var daemon = status["daemon"]!;
        console.MarkupLine($"[bold]mcp-broker[/] {Markup.Escape(Text(daemon["version"]))}: daemon pid {daemon["pid"]}, up {Ago(TimeSpan.FromSeconds(daemon["uptime_seconds"]!.GetValue<long>()))}, config {Markup.Escape(Text(daemon["config"]))}");
        if (status["config"] is { } config)
        {
            console.MarkupLine($"config version {config["version"]}, loaded {Terminal.Time(config["loaded_at"])}");
            if (config["rejected"] is { } rejected)
            {
                console.MarkupLine($"[red]the last change to the config was refused ({Terminal.Time(rejected["at"])}); the daemon keeps the last good one:[/]");
                foreach (var error in rejected["errors"]!.AsArray())
                {
                    console.MarkupLine($"[red]  {Markup.Escape(Text(error))}[/]");
                }
            }
        }

        if (daemon["environment"] is { } environment)
        {
            console.MarkupLine($"upstream environment: {Markup.Escape(Text(environment["file"]))} ({Markup.Escape(Text(environment["source"]))})");
        }

        if (daemon["http"] is { } http)
        {
            console.MarkupLine($"HTTP front door: {Markup.Escape(http.GetValue<string>())}");
        }

        var sessions = new Table().Title("sessions").AddColumns("client", "profile", "since");
        foreach (var session in status["sessions"]!.AsArray())
        {
            var since = session!["since"]!.GetValue<DateTimeOffset>();
            sessions.AddRow(Markup.Escape(Text(session["client_info"]) is { Length: > 0 } info ? info : Text(session["client"])),
                Markup.Escape(Text(session["profile"])), $"{Ago(now - since)} ago");
        }

        if (sessions.Rows.Count == 0)
        {
            sessions.AddRow("[grey]none[/]", "", "");
        }

        console.Write(sessions);
        // One row of plain cells per upstream; last errors, which are long, go below, wrapped at words.
        string[] columns = ["name", "state", "pid", "mode", "protocol", "sessions", "restarts", "tools", "idle", "auth"];
        var rows = new List<string[]>();
        var errors = new List<(string Name, string Error)>();
        foreach (var upstream in status["upstreams"]!.AsArray())
        {
            rows.Add([
                Text(upstream!["name"]),
                Text(upstream["state"]),
                string.Join(",", upstream["pids"]?.AsArray().Select(p => p!.ToString()) ?? []),
                Text(upstream["mode"]) + (Text(upstream["transport"]) is "stdio" or "" ? "" : $" ({Text(upstream["transport"])})"),
                Text(upstream["protocol"]),
                Text(upstream["sessions"]),
                Text(upstream["restarts"]),
                Text(upstream["tools"]),
                upstream["idle_seconds"] is { } idle ? Ago(TimeSpan.FromSeconds(idle.GetValue<long>())) : "",
                Text(upstream["auth"]?["state"]),
            ]);
            var error = string.Join("; ", new[] { Text(upstream["last_error"]), upstream["limits"]?["last_restart"] is { } ceiling ? $"over a ceiling: {ceiling}" : "" }.Where(t => t.Length > 0));
            if (error.Length > 0)
            {
                errors.Add((Text(upstream["name"]), error));
            }
        }

        // A table only where it fits: a cell broken across lines breaks its word ("sequential-thi / nking").
        var width = 1 + columns.Select((c, i) => rows.Select(r => r[i].Length).Append(c.Length).Max() + 3).Sum();
        if (width <= console.Profile.Width)
        {
            var upstreams = new Table().Title("upstreams").AddColumns(columns);
            foreach (var row in rows)
            {
                upstreams.AddRow([Markup.Escape(row[0]), $"[{Colour(row[1])}]{Markup.Escape(row[1])}[/]", .. row[2..9].Select(Markup.Escape),
                    row[9] is AuthProbe.CredentialsMissing or AuthProbe.OAuthRefreshExpired or AuthProbe.CredentialsRefused ? $"[red]{Markup.Escape(row[9])}[/]" : Markup.Escape(row[9])]);
            }

            console.Write(upstreams);
        }
        else
        {
            // Narrower than the table: one paragraph per upstream, "field value" pairs wrapped between words.
            console.MarkupLine("[bold]upstreams[/]");
            foreach (var row in rows)
            {
                var fields = string.Join(", ", columns.Skip(2).Zip(row.Skip(2)).Where(f => f.Second.Length > 0).Select(f => $"{f.First} {f.Second}"));
                console.Write(new Markup($"  [bold]{Markup.Escape(row[0])}[/] [{Colour(row[1])}]{Markup.Escape(row[1])}[/]: {Markup.Escape(fields)}\n"));
            }
        }

        foreach (var (name, error) in errors)
        {
            console.Write(new Paragraph($"last error of {name}: {error}\n", new Style(Color.Red)));
        }

        foreach (var upstream in status["upstreams"]!.AsArray())
        {
            foreach (var warning in upstream!["catalog_warnings"]?.AsArray() ?? [])
            {
                console.MarkupLine($"[yellow]{Markup.Escape(Text(upstream["name"]))}: {Markup.Escape(Text(warning))}[/]");
            }
        }
    }

    private static string Colour(string state) => state switch { "running" => "green", "stopped" or "disabled" => "grey", "starting" => "yellow", _ => "red" };

    private static string Text(JsonNode? node) => node?.ToString() ?? "";

    private static string Ago(TimeSpan span) => span.TotalSeconds < 90 ? $"{(int)span.TotalSeconds}s"
        : span.TotalMinutes < 90 ? $"{(int)span.TotalMinutes}m"
        : span.TotalHours < 48 ? $"{(int)span.TotalHours}h"
        : $"{(int)span.TotalDays}d";
}
