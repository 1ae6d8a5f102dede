using System.CommandLine;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.Json;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Exposure;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Cli;

internal sealed class ToolsCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>tools warm|count|approve</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var approveUpstream = new Argument<string>("UPSTREAM") { Description = "Upstream name, as in the config" };
        var approveTool = new Argument<string?>("TOOL") { Description = "The upstream's own tool name (default: every tool it lists now)", Arity = ArgumentArity.ZeroOrOne };
        var approveJson = CommonOptions.Json("Print one JSON object: ok, and what was approved or why not");
        var approve = new Command("approve", "Approve an upstream's tool definitions as it lists them now") { approveUpstream, approveTool, approveJson };
        approve.SetAction((r, ct) => new ToolsCommands(r.Output(), r.Error()).ApproveAsync(r.GetValue(config), r.GetValue(approveUpstream)!, r.GetValue(approveTool), r.GetValue(approveJson), ct));

        var warmProfile = CommonOptions.OptionalProfile("Only the upstreams this profile sees (default: every enabled upstream)");
        var warmJson = CommonOptions.Json();
        var warm = new Command("warm", "Start upstreams and list their tools now, as a session's first search would") { warmProfile, warmJson };
        warm.SetAction((r, ct) => new ToolsCommands(r.Output(), r.Error()).WarmAsync(r.GetValue(config), r.GetValue(warmProfile), r.GetValue(warmJson), ct));

        var countProfile = CommonOptions.OptionalProfile("Only this profile (default: every profile)");
        var countJson = CommonOptions.Json();
        var count = new Command("count", "Count the tools each profile advertises, shows and hides") { countProfile, countJson };
        count.SetAction((r, ct) => new ToolsCommands(r.Output(), r.Error()).CountAsync(r.GetValue(config), r.GetValue(countProfile), r.GetValue(countJson), ct));

        return new Command("tools", "Fill, count and approve the daemon's tool catalog") { warm, count, approve };
    }

    /// <summary>
    /// Approves an upstream's tools as the upstream lists them now (all, or one), through the daemon, which starts if
    /// needed: only the daemon can ask the upstream what it serves, and it must take the approval in at once.
    /// </summary>
    public async Task<int> ApproveAsync(string? configOption, string upstream, string? tool, bool json, CancellationToken ct)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (model.FindUpstream(upstream) is not { } found)
        {
            error.WriteLine($"mcp-broker: no upstream named '{upstream}' in {model.SourcePath}{DidYouMean.Hint(upstream, model.Upstreams.Select(u => u.Name))}; defined: {string.Join(", ", model.Upstreams.Select(u => u.Name))}");
            return ExitCodes.Failure;
        }

        if (await new DaemonCommands(output, error).DetachAsync(model, ct, quiet: true) != 0)
        {
            return ExitCodes.Failure;
        }

        var answer = await DaemonClient.ControlAsync(model.Runtime.SocketPath, "approve", found.StartTimeout + TimeSpan.FromSeconds(30), upstream, tool, cancellationToken: ct);
        if (json)
        {
            output.WriteLine(new JsonObject
            {
                ["upstream"] = upstream, ["tool"] = tool, ["ok"] = answer is { Ok: true },
                ["message"] = answer is { Ok: true } ? answer.Message : null,
                ["error"] = answer is { Ok: true } ? null : answer?.Error?.Message ?? "the daemon did not answer",
            }.ToJsonString());
            return answer is { Ok: true } ? ExitCodes.Ok : ExitCodes.Failure;
        }

        if (answer is { Ok: true })
        {
            output.WriteLine(answer.Message);
            return ExitCodes.Ok;
        }

        error.WriteLine($"mcp-broker: {answer?.Error?.Message ?? "the daemon did not answer"}");
        return ExitCodes.Failure;
    }

    /// <summary>
    /// Fills the daemon's catalog for a profile (or every enabled upstream): one line per upstream with its tool count
    /// or why it could not be listed (a live table on a terminal); exit 1 if any failed.
    /// </summary>
    public async Task<int> WarmAsync(string? configOption, string? profile, bool json, CancellationToken ct)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (profile is not null && !model.Profiles.ContainsKey(profile))
        {
            error.WriteLine($"mcp-broker: no profile named '{profile}' in {model.SourcePath}{DidYouMean.Hint(profile, model.Profiles.Keys)}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return ExitCodes.Failure;
        }

        if (await new DaemonCommands(output, error).DetachAsync(model, ct, quiet: true) != 0)
        {
            return ExitCodes.Failure;
        }

        var interactive = !json && Terminal.IsTerminal(output);
        if (await new CatalogFill(output).RunAsync(model, profile, show: interactive, ct, plain: !json) is not { } upstreams)
        {
            error.WriteLine($"mcp-broker: the daemon did not answer the request to list tools; see 'mcp-broker logs'");
            return ExitCodes.Failure;
        }

        var failed = upstreams.Count(u => u.Value?["error"] is not null);
        if (json)
        {
            output.WriteLine(new JsonObject { ["profile"] = profile, ["upstreams"] = upstreams.DeepClone() }.ToJsonString());
        }
        else if (!interactive)
        {
            foreach (var (name, outcome) in upstreams)
            {
                output.WriteLine(outcome?["error"] is { } error ? $"{name}: failed: {error}" : $"{name}: {outcome?["tools"]} tool(s)");
            }
        }

        if (!json)
        {
            var total = upstreams.Sum(u => u.Value?["tools"]?.GetValue<int>() ?? 0);
            output.WriteLine($"{upstreams.Count - failed} of {upstreams.Count} upstream(s) listed, {total} tool(s) in the catalog");
        }

        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }

    /// <summary>
    /// <c>tools count [--profile P]</c>: what a profile advertises — its tools/list — and, per upstream, the tools it
    /// shows of each (directly in a raw profile, behind search in a compact one) and those it hides (mutating and not
    /// allowed, quarantined), from real sessions with the daemon (started, and the catalog filled, if needed).
    /// Without --profile, every profile. Exit 1 when a session could not be opened or an upstream could not be listed.
    /// </summary>
    public async Task<int> CountAsync(string? configOption, string? profileName, bool json, CancellationToken ct)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
        }

        if (profileName is not null && !model.Profiles.ContainsKey(profileName))
        {
            error.WriteLine($"mcp-broker: no profile named '{profileName}' in {model.SourcePath}{DidYouMean.Hint(profileName, model.Profiles.Keys)}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return ExitCodes.Failure;
        }

        if (await new DaemonCommands(output, error).DetachAsync(model, ct, quiet: true) != 0)
        {
            return ExitCodes.Failure;
        }

        // Fill the catalog first: a compact profile's tools/list alone would not list any upstream.
        if (await new CatalogFill(output).RunAsync(model, profileName, show: !json && Terminal.IsTerminal(output), ct) is null)
        {
            error.WriteLine("mcp-broker: the daemon did not answer the request to list tools; see 'mcp-broker logs'");
            return ExitCodes.Failure;
        }

        var profiles = profileName is null ? model.Profiles.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList() : [model.Profiles[profileName]];
        var results = new JsonArray();
        var failed = false;
        foreach (var profile in profiles)
        {
            var result = await CountProfileAsync(model, profile, ct);
            failed |= result["error"] is not null || result["upstreams"]?.AsArray().Any(u => u?["error"] is not null) == true;
            results.Add(result);
        }

        if (json)
        {
            output.WriteLine(new JsonObject { ["profiles"] = results }.ToJsonString());
            return failed ? ExitCodes.Failure : ExitCodes.Ok;
        }

        foreach (var result in results.OfType<JsonObject>())
        {
            var name = result["profile"]!.GetValue<string>();
            if (result["error"] is { } error)
            {
                output.WriteLine($"profile '{name}': {error}");
                continue;
            }

            var compact = result["compact"]!.GetValue<bool>();
            var total = result["total"]!.GetValue<int>();
            var tokens = result["total_tokens"]!.GetValue<int>();
            output.WriteLine((result["advertised"] is { } advertised
                    ? $"profile '{name}' ({(compact ? "compact" : "raw")}): tools/list advertises {advertised} tool(s), {result["advertised_tokens"]!.GetValue<int>():N0} o200k tokens"
                    : $"profile '{name}' (raw): tools/list fails: {total} tools are over its max_tools budget")
                + (compact ? $"; {total} upstream tool(s) behind search ({tokens:N0} tokens if listed)" : ""));
            output.WriteLine($"  {"UPSTREAM",-24} {"TOOLS",6}  HIDDEN");
            foreach (var u in result["upstreams"]!.AsArray().OfType<JsonObject>())
            {
                var hidden = string.Join(", ", new[] { u["mutating_hidden"] is { } m ? $"{m} mutating" : null, u["quarantined"] is { } q ? $"{q} quarantined" : null }.OfType<string>());
                output.WriteLine(u["error"] is { } e
                    ? $"  {u["upstream"],-24} {"-",6}  not listed: {e}"
                    : $"  {u["upstream"],-24} {u["tools"],6}  {(hidden.Length == 0 ? "-" : hidden)}");
            }

            output.WriteLine($"  {"total",-24} {total,6}  ({tokens:N0} o200k tokens)");
        }

        return failed ? ExitCodes.Failure : ExitCodes.Ok;
    }

    /// <summary>One profile's counts: its tools/list, and per upstream what its broker.status says it shows and hides.</summary>
    private async Task<JsonObject> CountProfileAsync(BrokerModel model, ProfileModel profile, CancellationToken ct)
    {
        var result = new JsonObject { ["profile"] = profile.Name, ["compact"] = profile.CompactToolsEnabled };
        try
        {
            // The CLI runs as the daemon's user, so it may read a profile's token file itself; the token is only sent.
            var token = profile.RequireTokenFile is { } file ? (await File.ReadAllTextAsync(file, ct)).Trim() : null;
            await using var session = await MeasureCommand.ConnectAsync(model, profile.Name, token, null, ct, "mcp-broker-tools-count");
            var answer = await session.CallToolAsync(ToolNames.BrokerTool("status", profile.NameStyle), cancellationToken: ct);
            var text = string.Concat(answer.Content.OfType<TextContentBlock>().Select(c => c.Text));
            if (answer.IsError == true)
            {
                result["error"] = $"broker.status failed: {text}";
                return result;
            }

            var status = JsonNode.Parse(text);
            var upstreams = new JsonArray();
            foreach (var u in status?["upstreams"]?.AsArray().OfType<JsonObject>() ?? [])
            {
                upstreams.Add(new JsonObject
                {
                    ["upstream"] = u["name"]?.DeepClone(),
                    ["tools"] = u["tools"]?.DeepClone(),
                    ["mutating_hidden"] = u["mutating_hidden"]?.DeepClone(),
                    ["quarantined"] = u["quarantined"] is JsonArray q ? q.Count : null,
                    ["error"] = u["tools"] is null ? u["last_error"]?.DeepClone() ?? "its tools could not be listed" : null,
                });
            }

            result["upstreams"] = upstreams;
            // The daemon's figures (Facade.ProfileContext), the same measure, status, top and the status page give:
            // "advertised" is its tools/list, "total" the upstream tools it exposes (the sum of the rows above).
            var context = status?["context"] ?? throw new JsonException("broker.status gave no context figures");
            result["advertised"] = context["listed_tools"]?.DeepClone();
            result["advertised_tokens"] = context["listed_tokens"]?.DeepClone();
            result["total"] = context["raw_tools"]?.DeepClone();
            result["total_tokens"] = context["raw_tokens"]?.DeepClone();
        }
        catch (Exception ex) when (ex is MeasureCommand.MeasureException or IOException or SocketException or McpException or JsonException or UnauthorizedAccessException)
        {
            result["error"] = ex.Message;
        }

        return result;
    }
}
