using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Daemon;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// The first catalog fill: the daemon starts a profile's upstreams and lists their tools (a <c>warm</c> control
/// request). On a terminal a live table shows each upstream as it goes (waiting, starting, listing, its tool count, or
/// why it failed), from the daemon's status polled meanwhile; elsewhere it runs silently.
/// </summary>
internal static class CatalogFill
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Before a command that is about to need the profile's tools: fills the catalog first, with the live table on a
    /// terminal, so a slow first start is seen as it happens (and an upstream without a probe still gets listed).
    /// </summary>
    public static async Task FillAsync(BrokerModel model, string profile, bool json, CancellationToken ct) =>
        await RunAsync(model, profile, show: !json && !Console.IsOutputRedirected, ct);

    /// <summary>Fills the catalog for the profile's upstreams; per upstream its tool count or error, or null when the daemon did not answer.</summary>
    public static async Task<JsonObject?> RunAsync(BrokerModel model, string? profile, bool show, CancellationToken ct)
    {
        var upstreams = model.EnabledUpstreams(profile is null ? null : model.Profiles[profile]).Select(u => u.Name).ToList();
        var timeout = model.Upstreams.Select(u => u.StartTimeout).DefaultIfEmpty(TimeSpan.Zero).Max() + TimeSpan.FromSeconds(60);
        var warm = DaemonClient.ControlAsync(model.Runtime.SocketPath, "warm", timeout, profile: profile);
        if (!show || upstreams.Count == 0)
        {
            return (await warm)?.Status?["upstreams"]?.AsObject();
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("upstream", "catalog");
        foreach (var name in upstreams)
        {
            table.AddRow(Markup.Escape(name), "[grey]waiting[/]");
        }

        JsonObject? result = null;
        await AnsiConsole.Live(table).AutoClear(false).StartAsync(async live =>
        {
            while (!warm.IsCompleted)
            {
                var status = await DaemonClient.ControlAsync(model.Runtime.SocketPath, "status", TimeSpan.FromSeconds(5));
                var states = status?.Status?["upstreams"]?.AsArray().OfType<JsonObject>().ToDictionary(u => u["name"]!.GetValue<string>()) ?? [];
                for (var i = 0; i < upstreams.Count; i++)
                {
                    table.UpdateCell(i, 1, Progress(states.GetValueOrDefault(upstreams[i])));
                }

                live.Refresh();
                await Task.WhenAny(warm, Task.Delay(s_poll, ct));
            }

            result = (await warm)?.Status?["upstreams"]?.AsObject();
            for (var i = 0; i < upstreams.Count; i++)
            {
                table.UpdateCell(i, 1, Outcome(result?[upstreams[i]]?.AsObject()));
            }

            live.Refresh();
        });
        return result;
    }

    /// <summary>An upstream's outcome once the fill is done: its tool count, or why it could not be listed.</summary>
    internal static string Outcome(JsonObject? outcome) => outcome switch
    {
        null => "[red]no answer[/] (the daemon did not answer in time; mcp-broker logs)",
        _ when outcome["error"] is { } error => $"[red]failed[/]: {Markup.Escape(error.ToString())}",
        _ => $"[green]{outcome["tools"]} tool(s)[/]",
    };

    /// <summary>An upstream's row while the fill runs, from its entry in the daemon's status.</summary>
    internal static string Progress(JsonObject? state)
    {
        if (state?["tools"] is { } tools)
        {
            return $"[green]{tools} tool(s)[/]";
        }

        return state?["state"]?.GetValue<string>() switch
        {
            "starting" => "[yellow]starting…[/]",
            "running" => "[yellow]listing tools…[/]",
            "circuit_open" => $"[red]circuit open[/]: {Markup.Escape(state["last_error"]?.ToString() ?? "")}",
            { } other when state["last_error"] is { } error => $"[yellow]{Markup.Escape(other)}[/] (last error: {Markup.Escape(error.ToString())})",
            _ => "[grey]waiting[/]",
        };
    }
}
