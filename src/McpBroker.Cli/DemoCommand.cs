using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Daemon;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// The broker's main job end to end on a throwaway root: start the daemon, connect through the shim as an MCP
/// client, run initialize → tools/list → search → describe → call → status, print what happened, stop everything.
/// </summary>
internal sealed class DemoCommand(TextWriter output, TextWriter error)
{
    private readonly IAnsiConsole _console = Terminal.Console(output);

    /// <summary><c>demo [--keep]</c>.</summary>
    public static Command Create()
    {
        var keep = new Option<bool>("--keep") { Description = "Keep the throwaway runtime root for a look afterwards" };
        var demo = new Command("demo", "Run the broker end to end on a throwaway root") { keep };
        demo.SetAction((r, ct) => new DemoCommand(r.Output(), r.Error()).RunAsync(r.GetValue(keep), ct));
        return demo;
    }

    public async Task<int> RunAsync(bool keep, CancellationToken ct)
    {
        var root = Directory.CreateTempSubdirectory("mcp-broker-demo-").FullName;
        var configPath = Path.Combine(root, "broker.yaml");
        await File.WriteAllTextAsync(configPath, ConfigLoader.DemoYaml.Replace("{root}", root, StringComparison.Ordinal), ct);
        var load = ConfigLoader.LoadFile(configPath);
        if (load.Model is not { } model)
        {
            foreach (var issue in load.Issues)
            {
                error.WriteLine(issue);
            }

            return ExitCodes.Failure;
        }

        var shim = ClientCommands.ShimCommand();
        Step("setup", $"runtime root [blue]{Markup.Escape(root)}[/], config [blue]{Markup.Escape(configPath)}[/]");
        Step("setup", "upstreams: [green]memory[/] (@modelcontextprotocol/server-memory) and [green]everything[/] (@modelcontextprotocol/server-everything), started with npx on first need");
        var exit = 1;
        try
        {
            exit = await ConverseAsync(shim, configPath, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _console.MarkupLine($"[red]demo failed:[/] {Markup.Escape(ex.Message)}");
        }
        finally
        {
            await StopDaemonAsync(model);
            if (!keep)
            {
                Directory.Delete(root, recursive: true);
            }
        }

        _console.MarkupLine(exit == 0 ? "[green]demo complete[/]: the daemon and every upstream it started are stopped" : "[red]demo failed[/]");
        return exit;
    }

    private async Task<int> ConverseAsync((string Command, string[] Prefix) shim, string configPath, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        Step("connect", $"launching [blue]mcp-broker-client --profile default --config …[/] as an MCP client would (it starts the daemon)");
        await using var client = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "mcp-broker-client",
            Command = shim.Command,
            Arguments = [.. shim.Prefix, "--profile", "default", "--config", configPath, "--client", "demo"],
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "mcp-broker-demo", Version = McpBroker.BrokerInfo.Version } }, cancellationToken: ct);
        Step("initialize", $"server [green]{client.ServerInfo?.Name} {client.ServerInfo?.Version}[/], protocol {client.NegotiatedProtocolVersion} ({clock.ElapsedMilliseconds} ms)");
        if (client.ServerInstructions is { } instructions)
        {
            Detail(instructions);
        }

        var tools = await client.ListToolsAsync(cancellationToken: ct);
        Step("tools/list", $"{tools.Count} tools instead of every upstream tool: {string.Join(", ", tools.Select(t => t.Name))}");

        const string query = "remember that Alice likes tea";
        clock.Restart();
        var search = await WithProgressAsync("search", progress => CallAsync(client, "broker.search_tools", new() { ["query"] = query, ["limit"] = 5 }, ct, progress));
        Step("search", $"\"{query}\" ({clock.ElapsedMilliseconds} ms, the first search starts the upstreams it needs)");
        using (var doc = JsonDocument.Parse(search))
        {
            foreach (var match in doc.RootElement.GetProperty("matches").EnumerateArray())
            {
                Detail($"{match.GetProperty("name").GetString()} — {match.GetProperty("description").GetString()}");
            }
        }

        var describe = await CallAsync(client, "broker.describe_tool", new() { ["name"] = "memory.create_entities" }, ct);
        using (var doc = JsonDocument.Parse(describe))
        {
            var required = doc.RootElement.GetProperty("inputSchema").TryGetProperty("required", out var r) ? string.Join(", ", r.EnumerateArray().Select(e => e.GetString())) : "";
            Step("describe", $"memory.create_entities needs: {required} ({describe.Length} bytes of schema, loaded only now)");
        }

        var entity = JsonDocument.Parse("""{"entities":[{"name":"Alice","entityType":"person","observations":["likes tea"]}]}""").RootElement;
        var call = await CallAsync(client, "broker.call_tool", new() { ["name"] = "memory.create_entities", ["arguments"] = entity }, ct);
        Step("call", "memory.create_entities → " + Shorten(call));
        var echo = await CallAsync(client, "broker.call_tool", new() { ["name"] = "everything.echo", ["arguments"] = JsonDocument.Parse("""{"message":"hello through the broker"}""").RootElement }, ct);
        Step("call", "everything.echo → " + Shorten(echo));

        var status = await CallAsync(client, "broker.status", [], ct);
        Step("status", "");
        using (var doc = JsonDocument.Parse(status))
        {
            foreach (var u in doc.RootElement.GetProperty("upstreams").EnumerateArray())
            {
                Detail($"{u.GetProperty("name").GetString()}: {u.GetProperty("state").GetString()}, pid {u.GetProperty("pid")}, {u.GetProperty("tools")} tools"
                    + (u.TryGetProperty("mutating_hidden", out var hidden) ? $" (+{hidden} mutating, hidden from this profile)" : "")
                    + $", {u.GetProperty("sessions")} session(s)");
            }
        }

        return ExitCodes.Ok;
    }

    private static async Task<string> CallAsync(McpClient client, string tool, Dictionary<string, object?> args, CancellationToken ct,
        IProgress<ProgressNotificationValue>? progress = null)
    {
        var result = await client.CallToolAsync(tool, args, progress, cancellationToken: ct);
        var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));
        return result.IsError == true ? throw new InvalidOperationException($"{tool} failed: {text}") : text;
    }

    private async Task StopDaemonAsync(BrokerModel model)
    {
        var answer = await DaemonClient.ControlAsync(model.Runtime.SocketPath, "stop", TimeSpan.FromSeconds(5));
        if (answer is { DaemonPid: { } pid })
        {
            var clock = Stopwatch.StartNew();
            while (McpBroker.Platform.Native.ProcessAlive(pid) && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(25);
            }

            Step("stop", $"daemon (pid {pid}) stopped with its upstreams in {clock.ElapsedMilliseconds} ms");
        }
    }

    /// <summary>
    /// Runs a call that may wait on upstreams starting, showing the broker's progress notifications as they come (which
    /// upstreams, how long, whether npx downloads): a live status line on a terminal, plain lines elsewhere.
    /// </summary>
    private async Task<string> WithProgressAsync(string step, Func<IProgress<ProgressNotificationValue>, Task<string>> call)
    {
        if (!Terminal.IsTerminal(output))
        {
            return await call(new Reported(value => Detail($"{step}: {value.Message}")));
        }

        return await AnsiConsole.Status().StartAsync($"{step}…", context =>
            call(new Reported(value => context.Status($"{step}: {Markup.Escape(value.Message ?? "")}"))));
    }

    /// <summary>Reports on the thread that got the notification (Progress&lt;T&gt; would post it, and lines could follow the result).</summary>
    private sealed class Reported(Action<ProgressNotificationValue> report) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => report(value);
    }

    private void Step(string step, string text) => _console.MarkupLine($"[bold yellow]{step,-10}[/] {text}");

    private void Detail(string text) => _console.MarkupLine($"           [grey]{Markup.Escape(text)}[/]");

    private static string Shorten(string text)
    {
        var line = text.ReplaceLineEndings(" ");
        return Markup.Escape(line.Length > 140 ? line[..139] + "…" : line);
    }
}
