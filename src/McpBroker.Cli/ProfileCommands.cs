using System.CommandLine;
using System.Text.Json.Nodes;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker profile validate P</c>: goes through the shim exactly as a client would (status, tools/list) and runs
/// each visible upstream's smoke probe: its search must return the probe tool, describe it, the probe's arguments must
/// fit the tool's input schema, and with <c>call: true</c> the call must succeed. A visible upstream without a probe
/// fails. One line (or JSON object) per upstream; exit 1 on any failure.
/// </summary>
internal sealed class ProfileCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>profile validate|parity</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var validateProfile = new Argument<string>("PROFILE") { Description = "Profile name, as in the config" };
        var validateToken = CommonOptions.TokenFile();
        var validateJson = CommonOptions.Json();
        var validate = new Command("validate", "Probe a profile through the shim like a client would") { validateProfile, validateToken, validateJson };
        validate.SetAction((r, ct) => new ProfileCommands(r.Output(), r.Error()).ValidateAsync(r.GetValue(config), r.GetValue(validateProfile)!, r.GetValue(validateToken), r.GetValue(validateJson), ct));

        var parityA = new Argument<string>("A") { Description = "A profile name" };
        var parityB = new Argument<string>("B") { Description = "Another profile name" };
        var parityToken = CommonOptions.TokenFile("Token file, for profiles with require_token_file");
        var parityJson = CommonOptions.Json();
        var parity = new Command("parity", "Run the same probes through two profiles and show the differences") { parityA, parityB, parityToken, parityJson };
        parity.SetAction((r, ct) => new ProfileCommands(r.Output(), r.Error()).ParityAsync(r.GetValue(config), r.GetValue(parityA)!, r.GetValue(parityB)!, r.GetValue(parityToken), r.GetValue(parityJson), ct));

        return new Command("profile", "Check what a profile gives a client") { validate, parity };
    }

    public async Task<int> ValidateAsync(string? configOption, string profileName, string? tokenFile, bool json, CancellationToken ct)
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

        await new CatalogFill(output).FillAsync(model, profileName, json, ct);
        if (await RunAsync(model, profile, tokenFile, json ? null : Print, ct) is not { } run)
        {
            return ExitCodes.Failure;
        }

        var reports = run.Reports;

        var failed = reports.Count(r => !r["ok"]!.GetValue<bool>());
        var unprobed = reports.Count(r => r["ok"]!.GetValue<bool>() && r["probed"]?.GetValue<bool>() == false);
        if (json)
        {
            output.WriteLine(new JsonObject
            {
                ["profile"] = profileName,
                ["ok"] = failed == 0,
                ["upstreams"] = new JsonArray([.. reports]),
            }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            var notProbed = unprobed > 0 ? $" ({unprobed} without a smoke probe, not probed)" : "";
            output.WriteLine(failed == 0
                ? $"profile '{profileName}': {reports.Count - unprobed} upstream(s) pass their smoke probes{notProbed}"
                : $"profile '{profileName}': {failed} of {reports.Count} upstream(s) failed{notProbed}");
        }

        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>
    /// <c>mcp-broker profile parity A B</c>: the same session, discovery and smoke calls through two profiles, side by
    /// side: the tools each lists, and per upstream whether its probe passes, where search ranks its tool and what the
    /// call returns. Exit 0 when the probes agree, 1 when they differ (different tool lists alone are shown, not failed:
    /// a compact and a raw profile list different tools by design).
    /// </summary>
    public async Task<int> ParityAsync(string? configOption, string a, string b, string? tokenFile, bool json, CancellationToken ct)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        foreach (var name in new[] { a, b }.Where(n => !model.Profiles.ContainsKey(n)))
        {
            error.WriteLine($"mcp-broker: no profile named '{name}' in {model.SourcePath}{DidYouMean.Hint(name, model.Profiles.Keys)}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return ExitCodes.Failure;
        }

        if (await new DaemonCommands(output, error).DetachAsync(model, ct, quiet: true) != 0)
        {
            return ExitCodes.Failure;
        }

        await new CatalogFill(output).FillAsync(model, a, json, ct);
        await new CatalogFill(output).FillAsync(model, b, json, ct);
        if (await RunAsync(model, model.Profiles[a], tokenFile, null, ct) is not { } left
            || await RunAsync(model, model.Profiles[b], tokenFile, null, ct) is not { } right)
        {
            return ExitCodes.Failure;
        }

        var onlyA = left.Tools.Except(right.Tools, StringComparer.Ordinal).ToList();
        var onlyB = right.Tools.Except(left.Tools, StringComparer.Ordinal).ToList();
        var rows = new JsonArray();
        var differ = 0;
        foreach (var upstream in left.Reports.Select(r => r["upstream"]!.GetValue<string>()).Union(right.Reports.Select(r => r["upstream"]!.GetValue<string>())))
        {
            var l = left.Reports.FirstOrDefault(r => r["upstream"]!.GetValue<string>() == upstream);
            var r = right.Reports.FirstOrDefault(r => r["upstream"]!.GetValue<string>() == upstream);
            var same = l is not null && r is not null && l["ok"]!.GetValue<bool>() == r["ok"]!.GetValue<bool>()
                && JsonNode.DeepEquals(l["result"], r["result"]);
            differ += same ? 0 : 1;
            rows.Add(new JsonObject { ["upstream"] = upstream, [a] = l?.DeepClone(), [b] = r?.DeepClone(), ["same"] = same });
        }

        if (json)
        {
            output.WriteLine(new JsonObject
            {
                ["profiles"] = new JsonArray(a, b),
                ["tools"] = new JsonObject { [a] = left.Tools.Count, [b] = right.Tools.Count },
                [$"only_in_{a}"] = new JsonArray([.. onlyA.Select(t => (JsonNode)t)]),
                [$"only_in_{b}"] = new JsonArray([.. onlyB.Select(t => (JsonNode)t)]),
                ["upstreams"] = rows,
                ["same"] = differ == 0,
            }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            output.WriteLine($"tools/list: '{a}' lists {left.Tools.Count}, '{b}' lists {right.Tools.Count}");
            output.WriteLine($"  only in '{a}': {(onlyA.Count == 0 ? "none" : string.Join(", ", onlyA))}");
            output.WriteLine($"  only in '{b}': {(onlyB.Count == 0 ? "none" : string.Join(", ", onlyB))}");
            foreach (var row in rows)
            {
                output.WriteLine($"{(row!["same"]!.GetValue<bool>() ? "same  " : "DIFFER")} {row["upstream"]}: '{a}' {Outcome(row[a])}; '{b}' {Outcome(row[b])}");
            }

            output.WriteLine(differ == 0 ? "the probes agree" : $"{differ} upstream(s) differ");
        }

        return differ == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private string Outcome(JsonNode? report) => report is null
        ? "does not see it"
        : report["probed"]?.GetValue<bool>() == false && report["ok"]!.GetValue<bool>() ? "not probed (no smoke probe)"
        : report["ok"]!.GetValue<bool>()
            ? "ok" + (report["search_rank"] is { } rank ? $" (#{rank})" : "") + (report["result"] is { } result ? $", call returned {Shorten(result.ToString(), 80)}" : "")
            : $"FAIL ({report["failed_step"]}): {report["error"]}";

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";

    private sealed record ProbeRun(IReadOnlyList<string> Tools, List<JsonObject> Reports);

    /// <summary>One session through the shim with the profile: its tools/list, then each visible upstream's probe.</summary>
    private async Task<ProbeRun?> RunAsync(BrokerModel model, ProfileModel profile, string? tokenFile, Action<JsonObject>? print, CancellationToken ct)
    {
        var reports = new List<JsonObject>();
        var interactive = print is not null && Terminal.IsTerminal(output);
        try
        {
            await using var client = await ConnectAsync(model, profile.Name, tokenFile, ct);
            var tools = await client.ListToolsAsync(cancellationToken: ct);
            var status = await CallJsonAsync(client, ToolNames.BrokerTool("status", profile.NameStyle), [], ct);
            var states = status?["upstreams"]?.AsArray().ToDictionary(u => u!["name"]!.GetValue<string>(), u => u!) ?? [];
            foreach (var upstream in model.EnabledUpstreams(profile))
            {
                if (upstream.Smoke is null)
                {
                    // No probe (every imported upstream at first): not a failure; whether it lists its tools is all there is to say.
                    var state = states.GetValueOrDefault(upstream.Name);
                    var unprobed = state?["tools"] is { } count
                        ? new JsonObject { ["upstream"] = upstream.Name, ["ok"] = true, ["probed"] = false, ["tools"] = count.DeepClone() }
                        : new JsonObject
                        {
                            ["upstream"] = upstream.Name, ["ok"] = false, ["probed"] = false, ["failed_step"] = "list",
                            ["error"] = $"its tools could not be listed: {state?["last_error"] ?? "no answer"}",
                        };
                    unprobed["state"] = state?["state"]?.DeepClone();
                    reports.Add(unprobed);
                    print?.Invoke(unprobed);
                    continue;
                }

                var probe = Probe(client, profile, upstream, tools, ct);
                var report = interactive
                    ? await AnsiConsole.Status().StartAsync($"checking upstream {Markup.Escape(upstream.Name)}…", _ => probe)
                    : await probe;
                report["state"] = states.GetValueOrDefault(upstream.Name)?["state"]?.DeepClone();
                reports.Add(report);
                print?.Invoke(report);
            }

            return new ProbeRun([.. tools.Select(t => t.Name)], reports);
        }
        catch (Exception ex) when (ex is IOException or McpException or InvalidOperationException or TimeoutException)
        {
            error.WriteLine($"mcp-broker: could not open a session with profile '{profile.Name}' through the shim: {ex.Message}");
            return null;
        }
    }

    /// <summary>One upstream's probe: search (compact) or listing (raw), describe, arguments against the schema, call.</summary>
    private async Task<JsonObject> Probe(McpClient client, ProfileModel profile, UpstreamModel upstream, IList<McpClientTool> listed, CancellationToken ct)
    {
        var report = new JsonObject { ["upstream"] = upstream.Name, ["ok"] = false };
        JsonObject Fail(string step, string why)
        {
            report["failed_step"] = step;
            report["error"] = why;
            return report;
        }

        var smoke = upstream.Smoke!;
        report["probed"] = true;

        var canonical = $"{upstream.Prefix}.{smoke.Tool}";
        report["tool"] = canonical;
        JsonObject definition;
        if (profile.CompactToolsEnabled)
        {
            var described = await CallJsonAsync(client, ToolNames.BrokerTool("describe_tool", profile.NameStyle), new() { ["name"] = canonical }, ct);
            if (described?["name"] is not { } exposed)
            {
                return Fail("describe", $"describe_tool does not know {canonical}: {described?["error"]?["message"] ?? "no answer"}");
            }

            definition = described!.AsObject();
            var found = await CallJsonAsync(client, ToolNames.BrokerTool("search_tools", profile.NameStyle), new() { ["query"] = smoke.Query, ["limit"] = 10 }, ct);
            var names = found?["matches"]?.AsArray().Select(m => m?["name"]?.GetValue<string>()).ToList() ?? [];
            var rank = names.IndexOf(exposed.GetValue<string>());
            if (rank < 0)
            {
                return Fail("search", $"searching \"{smoke.Query}\" did not return {exposed} in the top 10 (got: {string.Join(", ", names.Take(5))}); reword upstreams.{upstream.Name}.smoke.query, or improve the tool's description or the upstream's purpose/tags");
            }

            report["search_rank"] = rank + 1;
        }
        else
        {
            // A raw profile has no search: the tool must be listed under its exposed name.
            var exposed = profile.Transparent ? smoke.Tool : ToolNames.Expose([(upstream.Prefix, smoke.Tool)], profile.NameStyle)[canonical];
            if (listed.FirstOrDefault(t => t.Name == exposed) is not { } tool)
            {
                return Fail("list", $"tools/list does not show {exposed} (is it hidden, mutating and not allowed, or quarantined? 'mcp-broker status' and broker.status say)");
            }

            definition = JsonSerializer.SerializeToNode(tool.ProtocolTool, McpJsonUtilities.DefaultOptions)!.AsObject();
        }

        if (ArgumentErrors(definition["inputSchema"], smoke.Arguments) is { Count: > 0 } errors)
        {
            return Fail("arguments", $"the probe's arguments do not fit {canonical}'s input schema: {string.Join("; ", errors.Take(3))}; fix upstreams.{upstream.Name}.smoke.arguments");
        }

        if (smoke.Call)
        {
            var name = definition["name"]!.GetValue<string>();
            var args = smoke.Arguments.ToDictionary(a => a.Key, a => (object?)a.Value);
            var result = profile.CompactToolsEnabled
                ? await client.CallToolAsync(ToolNames.BrokerTool("call_tool", profile.NameStyle), new Dictionary<string, object?> { ["name"] = name, ["arguments"] = args }, cancellationToken: ct)
                : await client.CallToolAsync(name, args, cancellationToken: ct);
            var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));
            if (result.IsError == true)
            {
                return Fail("call", $"calling {name} failed: {Shorten(text, 300)}");
            }

            report["called"] = true;
            report["result"] = Shorten(text, 2000);
        }

        report["ok"] = true;
        return report;
    }

    private void Print(JsonObject report)
    {
        var upstream = report["upstream"]!.GetValue<string>();
        if (report["probed"]?.GetValue<bool>() == false && report["ok"]!.GetValue<bool>())
        {
            output.WriteLine($"--    {upstream}: not probed ({report["tools"]} tool(s) listed); add upstreams.{upstream}.smoke: {{query, tool, arguments}} to check a search and a call");
        }
        else if (report["ok"]!.GetValue<bool>())
        {
            output.WriteLine($"ok    {upstream}: {report["tool"]}" + (report["search_rank"] is { } rank ? $" found at #{rank}" : " listed")
                + ", arguments fit its schema" + (report["called"] is not null ? ", call succeeded" : ""));
        }
        else
        {
            output.WriteLine($"FAIL  {upstream} ({report["failed_step"]}): {report["error"]}");
        }
    }

    private static async Task<JsonNode?> CallJsonAsync(McpClient client, string tool, Dictionary<string, object?> args, CancellationToken ct)
    {
        var result = await client.CallToolAsync(tool, args, cancellationToken: ct);
        var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A session through the shim, started as a client's config would start it.</summary>
    private static Task<McpClient> ConnectAsync(BrokerModel model, string profile, string? tokenFile, CancellationToken ct) =>
        McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = ClientCommands.ShimCommand().Command,
            Arguments = [.. ClientCommands.ShimCommand().Prefix, "--profile", profile, "--config", model.SourcePath, "--client", "mcp-broker-profile-validate", .. tokenFile is null ? Array.Empty<string>() : ["--token-file", tokenFile]],
            Name = "mcp-broker-client",
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "mcp-broker-profile-validate", Version = BrokerInfo.Version } }, cancellationToken: ct);

    /// <summary>Where the probe's arguments break the tool's input schema (JsonSchema.Net, as the config is checked).</summary>
    private static List<string> ArgumentErrors(JsonNode? inputSchema, IReadOnlyDictionary<string, JsonElement> arguments)
    {
        try
        {
            // A tool's schema without $schema is read as draft 2020-12 (MCP's default); nothing is ever fetched.
            var options = new Json.Schema.BuildOptions { SchemaRegistry = new Json.Schema.SchemaRegistry(), Dialect = Json.Schema.Dialect.Draft202012 };
            using var schemaText = JsonDocument.Parse(inputSchema?.ToJsonString() ?? "{}");
            var schema = Json.Schema.JsonSchema.Build(schemaText.RootElement, options);
            using var instance = JsonDocument.Parse(JsonSerializer.Serialize(arguments));
            var result = schema.Evaluate(instance.RootElement, new Json.Schema.EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
            return [.. (result.Details ?? []).Where(d => !d.IsValid && d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{(d.InstanceLocation.ToString() is { Length: > 0 } at ? at : "/")}: {e.Value}"))];
        }
        catch (Exception ex) when (ex is Json.Schema.JsonSchemaException or JsonException)
        {
            return [$"the tool's input schema cannot be read ({ex.Message})"];
        }
    }
}
