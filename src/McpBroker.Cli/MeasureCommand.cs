using System.CommandLine;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.Json;
using System.Text;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Measure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker measure</c>: what a profile's tools/list costs a model, against what its upstreams' raw tools
/// would cost: the daemon's figures (Facade.ProfileContext, the same the status page, top, broker.status and tools count
/// show), asked for through a real session of the profile once the catalog is filled. "after" is the profile's own
/// tools/list, "before" the upstream tools it exposes (after its gates, under its names) as its raw view lists them.
/// </summary>
internal sealed class MeasureCommand(TextWriter output, TextWriter error)
{
    /// <summary><c>measure [--profile NAME] [--token-file PATH] [--json]</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var profile = CommonOptions.Profile("Profile to measure", "default");
        var tokenFile = CommonOptions.TokenFile();
        var json = CommonOptions.Json();
        var measure = new Command("measure", "Measure what a profile's tools/list costs a model against its upstreams' raw tools") { profile, tokenFile, json };
        measure.SetAction((r, ct) => new MeasureCommand(r.Output(), r.Error()).RunAsync(r.GetValue(config), r.GetValue(profile)!, r.GetValue(tokenFile), r.GetValue(json), ct));
        return measure;
    }

    public async Task<int> RunAsync(string? configOption, string profileName, string? tokenFile, bool json, CancellationToken ct)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (!model.Profiles.TryGetValue(profileName, out var profile))
        {
            error.WriteLine($"mcp-broker: no profile named '{profileName}' in {model.SourcePath}{DidYouMean.Hint(profileName, model.Profiles.Keys)}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return ExitCodes.Failure;
        }

        if (await new DaemonCommands(output, error).DetachAsync(model, ct, quiet: true) != 0)
        {
            return ExitCodes.Failure;
        }

        // The figures are over what the catalog holds: fill it first (live on a terminal), as a session's first search would.
        await new CatalogFill(output).RunAsync(model, profileName, show: !json && Terminal.IsTerminal(output), ct);
        var token = tokenFile is null ? null : (await File.ReadAllTextAsync(tokenFile, ct)).Trim();
        JsonNode? status;
        try
        {
            // The daemon's own figures (Facade.ProfileContext), as broker.status, status, top and the status page give them.
            await using var own = await ConnectAsync(model, profileName, token, null, ct);
            var answer = await own.CallToolAsync(profile.NameStyle == ToolNameStyle.Snake ? "broker_status" : "broker.status", cancellationToken: ct);
            status = JsonNode.Parse(answer.Content.OfType<TextContentBlock>().First().Text);
        }
        catch (Exception ex) when (ex is MeasureException or IOException or SocketException or ModelContextProtocol.McpException or JsonException)
        {
            error.WriteLine($"mcp-broker: {ex.Message}");
            return ExitCodes.Failure;
        }

        if (status?["context"] is not JsonObject context)
        {
            error.WriteLine($"mcp-broker: the daemon's broker.status gave no context figures: {status?.ToJsonString()}");
            return ExitCodes.Failure;
        }

        var b = new Cost(Int(context["raw_tools"]), Int(context["raw_bytes"]), Int(context["raw_tokens"]));
        var overBudget = context["listed_tools"] is null;
        var a = overBudget ? default : new Cost(Int(context["listed_tools"]), Int(context["listed_bytes"]), Int(context["listed_tokens"]));
        var hiddenNote = HiddenNote(context);
        var unlisted = status["upstreams"]?.AsArray()
            .Where(u => u?["tools"] is null)
            .Select(u => $"{u!["name"]}{(u["last_error"] is { } e ? $" ({e})" : "")}")
            .ToList() ?? [];
        var hosted = HostedApps(model);
        // Both exposures a client may get (the raw tools as "before" counts them), and the one 'client apply' gives each.
        var facade = new Cost(Int(context["facade_tools"]), Int(context["facade_bytes"]), Int(context["facade_tokens"]));
        var perClient = ClientExposureCosts.Of(model, profile, facade, b);
        if (json)
        {
            var result = new JsonObject
            {
                ["profile"] = profileName,
                ["before"] = Json(b),
                ["after"] = overBudget ? null : Json(a),
                ["hidden"] = new JsonObject { ["mutating"] = context["mutating_hidden"]?.DeepClone(), ["quarantined"] = context["quarantined"]?.DeepClone() },
                ["reduction_pct"] = overBudget ? null : new JsonObject
                {
                    ["tools"] = ContextCost.Reduction(b.Tools, a.Tools),
                    ["bytes"] = ContextCost.Reduction(b.Bytes, a.Bytes),
                    ["tokens"] = ContextCost.Reduction(b.Tokens, a.Tokens),
                },
            };
            result["clients"] = new JsonArray([.. perClient.Select(c => (JsonNode)c.ToJson())]);
            if (unlisted.Count > 0)
            {
                result["not_listed"] = new JsonArray([.. unlisted.Select(u => (JsonNode)u)]);
            }

            if (hosted.Count > 0)
            {
                result["hosted_apps"] = new JsonArray([.. hosted.Select(h => (JsonNode)(h.Plan is { } plan
                    ? new JsonObject
                    {
                        ["client"] = h.Client,
                        ["cache_files"] = plan.CacheFiles,
                        ["before"] = Json(plan.Before),
                        ["after"] = Json(plan.After),
                        ["reduction_pct"] = new JsonObject
                        {
                            ["tools"] = ContextCost.Reduction(plan.Before.Tools, plan.After.Tools),
                            ["tokens"] = ContextCost.Reduction(plan.Before.Tokens, plan.After.Tokens),
                        },
                    }
                    : new JsonObject { ["client"] = h.Client, ["error"] = h.Error }))]);
            }

            output.WriteLine(result.ToJsonString());
        }
        else
        {
            var console = Terminal.Console(output);
            var table = new Table().AddColumns("", "tools", "bytes", "o200k tokens");
            table.AddRow("before (the upstream tools it exposes, listed raw)", $"{b.Tools}", $"{b.Bytes:N0}", $"{b.Tokens:N0}");
            if (overBudget)
            {
                table.AddRow($"after (profile '{Markup.Escape(profileName)}' tools/list)", "-", "-", "fails: over its max_tools budget");
            }
            else
            {
                table.AddRow($"after (profile '{Markup.Escape(profileName)}' tools/list)", $"{a.Tools}", $"{a.Bytes:N0}", $"{a.Tokens:N0}");
                table.AddRow("reduction", $"{ContextCost.Reduction(b.Tools, a.Tools)}%", $"{ContextCost.Reduction(b.Bytes, a.Bytes)}%", $"{ContextCost.Reduction(b.Tokens, a.Tokens)}%");
            }

            console.Write(table);
            var clients = new Table().AddColumns("client", "client apply gives", "facade tokens", "raw tokens", "the client defers raw tools");
            foreach (var c in perClient)
            {
                clients.AddRow(Markup.Escape(c.Client), c.Choice is null ? "-" : ClientExposure.Name(c.Choice.Exposure),
                    $"{c.Facade.Tokens:N0}", $"{c.Raw.Tokens:N0}", Markup.Escape(c.Loading.DefersMcpTools ?? "never: all load"));
            }

            console.Write(clients);
            foreach (var c in perClient)
            {
                console.MarkupLineInterpolated($"{c.Client}: {c.Choice?.Reason ?? c.Error}");
            }

            if (hiddenNote is not null)
            {
                console.MarkupLineInterpolated($"not counted: {hiddenNote}");
            }

            foreach (var u in unlisted)
            {
                console.MarkupLineInterpolated($"[yellow]not counted[/]: upstream {u} could not be listed");
            }

            foreach (var (client, plan, error) in hosted)
            {
                if (plan is null)
                {
                    console.MarkupLineInterpolated($"[yellow]hosted apps of client '{client}' not counted[/]: {error}");
                    continue;
                }

                var apps = new Table().AddColumns($"hosted apps of client '{Markup.Escape(client)}' ({plan.CacheFiles} tools cache file(s))", "tools", "bytes", "o200k tokens");
                apps.AddRow("before (as the cache files are now)", $"{plan.Before.Tools}", $"{plan.Before.Bytes:N0}", $"{plan.Before.Tokens:N0}");
                apps.AddRow("after (with its codex_apps_policy)", $"{plan.After.Tools}", $"{plan.After.Bytes:N0}", $"{plan.After.Tokens:N0}");
                apps.AddRow("reduction", $"{ContextCost.Reduction(plan.Before.Tools, plan.After.Tools)}%", $"{ContextCost.Reduction(plan.Before.Bytes, plan.After.Bytes)}%", $"{ContextCost.Reduction(plan.Before.Tokens, plan.After.Tokens)}%");
                console.Write(apps);
            }
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// Codex hosted-app tool definitions, for each Codex client with an enabled codex_apps_policy whose tools cache files
    /// exist: as the files are now, and as the policy would leave them. Read only; a file that cannot be read is named.
    /// </summary>
    private static List<(string Client, AppsPlan? Plan, string? Error)> HostedApps(BrokerModel model)
    {
        var hosted = new List<(string, AppsPlan?, string?)>();
        foreach (var client in model.Clients.Values.Where(c => c.CodexAppsPolicy is { Enabled: true }).OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            try
            {
                var plan = CodexApps.Plan(client, client.CodexAppsPolicy!);
                if (plan.CacheFiles > 0)
                {
                    hosted.Add((client.Name, plan, null));
                }
            }
            catch (Exception e) when (e is ClientConfigException or IOException or UnauthorizedAccessException)
            {
                hosted.Add((client.Name, null, e.Message));
            }
        }

        return hosted;
    }

    private static int Int(JsonNode? node) => node?.GetValue<int>() ?? 0;

    /// <summary>The tools the profile hides, in words, or null when it hides none.</summary>
    internal static string? HiddenNote(JsonNode context)
    {
        var parts = new[]
        {
            Int(context["mutating_hidden"]) is > 0 and var m ? $"{m} mutating tool(s) the profile does not allow" : null,
            Int(context["quarantined"]) is > 0 and var q ? $"{q} quarantined tool(s)" : null,
        }.OfType<string>().ToList();
        return parts.Count == 0 ? null : string.Join(" and ", parts) + " (hidden from it)";
    }

    private static JsonObject Json(Cost c) => new() { ["tools"] = c.Tools, ["bytes"] = c.Bytes, ["tokens"] = c.Tokens };

    /// <summary>An MCP session with the daemon over its socket, as the shim would open it (hello, answer, then MCP).</summary>
    internal static async Task<McpClient> ConnectAsync(BrokerModel model, string profile, string? token, string? view, CancellationToken ct, string client = "mcp-broker-measure")
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(model.Runtime.SocketPath), ct);
            var stream = new NetworkStream(socket, ownsSocket: true);
            var hello = new JsonObject { ["mcp_broker"] = 1, ["profile"] = profile, ["client"] = client, ["view"] = view, ["token"] = token };
            await stream.WriteAsync(Encoding.UTF8.GetBytes(hello.ToJsonString() + "\n"), ct);
            var line = new List<byte>();
            var one = new byte[1];
            while (await stream.ReadAsync(one, ct) == 1 && one[0] != (byte)'\n')
            {
                line.Add(one[0]);
            }

            var welcome = JsonNode.Parse(line.Count == 0 ? "{}"u8.ToArray() : [.. line]);
            if (welcome?["ok"]?.GetValue<bool>() != true)
            {
                throw new MeasureException($"the daemon refused the session: {welcome?["error"]?["message"] ?? "it closed the connection"}");
            }

            return await McpClient.CreateAsync(new StreamClientTransport(stream, stream), new McpClientOptions
            {
                ClientInfo = new Implementation { Name = client, Version = BrokerInfo.Version },
            }, cancellationToken: ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal sealed class MeasureException(string message) : Exception(message);
}
