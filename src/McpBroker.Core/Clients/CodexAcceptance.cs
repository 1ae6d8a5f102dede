using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;

namespace McpBroker.Clients;

/// <summary>One call to make inside a Codex session: the tool name Codex shows the model, its arguments, what to expect.</summary>
internal sealed record AcceptanceStep(string Step, string Tool, JsonObject? Arguments, string Expect, bool Shortened);

/// <summary>One upstream's steps, or why it has none.</summary>
internal sealed record AcceptanceUpstream(string Upstream, string? Tool, IReadOnlyList<AcceptanceStep> Steps, string? Problem);

/// <summary>
/// The deferred-tool acceptance steps for Codex: from each visible upstream's smoke probe, the calls to make inside a
/// live Codex session — search, describe, and the safe call (only a probe with <c>call: true</c>) in a compact profile;
/// the tool itself in a raw one — spelled with the names Codex shows the model (<see cref="CodexToolName"/>). It
/// computes them from the config only and runs nothing.
/// </summary>
internal static class CodexAcceptance
{
    /// <summary>Codex's limit on a model-visible tool name (the Responses API's).</summary>
    public const int MaxToolName = 64;

    /// <summary>
    /// The name Codex gives an MCP tool before the model: <c>mcp__SERVER__TOOL</c>, every character other than ASCII
    /// letters, digits and '_' replaced by '_' (so <c>mcp-broker</c> reads <c>mcp_broker</c>, <c>broker.search_tools</c>
    /// reads <c>broker_search_tools</c>). A name over 64 characters Codex shortens, ending it in '_' and 12 hex digits
    /// of a SHA-1 over identifiers it keeps to itself: <c>Shortened</c> says so rather than guess the hash.
    /// </summary>
    public static (string Name, bool Shortened) CodexToolName(string server, string tool)
    {
        var name = $"{CodexNamespace(server)}__{Sanitize(tool)}";
        return (name, name.Length > MaxToolName);
    }

    /// <summary>The namespace Codex declares a server's tools in: <c>mcp__SERVER</c>, sanitized the same way.</summary>
    public static string CodexNamespace(string server) => $"mcp__{Sanitize(server)}";

    public static IReadOnlyList<AcceptanceUpstream> Steps(BrokerModel model, ClientModel client, ProfileModel profile)
    {
        var result = new List<AcceptanceUpstream>();
        foreach (var upstream in model.EnabledUpstreams(profile))
        {
            if (upstream.Smoke is not { } smoke)
            {
                result.Add(new AcceptanceUpstream(upstream.Name, null, [], $"no smoke probe; add upstreams.{upstream.Name}.smoke: {{query, tool, arguments, call}}"));
                continue;
            }

            var canonical = $"{upstream.Prefix}.{smoke.Tool}";
            var exposed = profile.Transparent ? smoke.Tool : ToolNames.Expose([(upstream.Prefix, smoke.Tool)], profile.NameStyle)[canonical];
            var arguments = new JsonObject([.. smoke.Arguments.Select(a => KeyValuePair.Create(a.Key, JsonSerializer.SerializeToNode(a.Value)))]);
            var steps = new List<AcceptanceStep>();
            AcceptanceStep Step(string step, string tool, JsonObject? args, string expect)
            {
                var (name, shortened) = CodexToolName(client.EntryName, tool);
                return new AcceptanceStep(step, name, args, expect, shortened);
            }

            if (profile.CompactToolsEnabled)
            {
                steps.Add(Step("search", ToolNames.BrokerTool("search_tools", profile.NameStyle), new JsonObject { ["query"] = smoke.Query },
                    $"{exposed} among the matches"));
                steps.Add(Step("describe", ToolNames.BrokerTool("describe_tool", profile.NameStyle), new JsonObject { ["name"] = exposed },
                    $"the definition of {exposed}, with its input schema"));
                steps.Add(smoke.Call
                    ? Step("call", ToolNames.BrokerTool("call_tool", profile.NameStyle), new JsonObject { ["name"] = exposed, ["arguments"] = arguments.DeepClone() },
                        "a result that is not an error")
                    : Skipped(upstream));
            }
            else
            {
                steps.Add(Step("list", exposed, null, "Codex lists this tool for the broker (/mcp shows it)"));
                steps.Add(smoke.Call
                    ? Step("call", exposed, arguments, "a result that is not an error")
                    : Skipped(upstream));
            }

            result.Add(new AcceptanceUpstream(upstream.Name, canonical, steps, null));
        }

        return result;
    }

    /// <summary>A call step with no tool: the probe does not say its tool is safe to call.</summary>
    private static AcceptanceStep Skipped(UpstreamModel upstream) =>
        new("call", "", null, $"skipped: upstreams.{upstream.Name}.smoke.call is not true, so the probe's tool is not known to be safe to call", false);

    /// <summary>The steps as text: one block per upstream, each call as the tool name and its JSON arguments.</summary>
    public static IEnumerable<string> Describe(ClientModel client, ProfileModel profile, IReadOnlyList<AcceptanceUpstream> upstreams)
    {
        yield return $"Codex acceptance for profile '{profile.Name}' ({(profile.CompactToolsEnabled ? "compact: deferred tools behind search" : "raw: upstream tools listed")}), "
            + $"server entry '{client.EntryName}' of client '{client.Name}'.";
        yield return $"Codex declares the broker's tools to the model in the namespace {CodexNamespace(client.EntryName)}; each name below is that namespace, '__' and the tool.";
        yield return "In a Codex session, ask it to call each tool below with exactly these arguments; nothing here was run.";
        foreach (var upstream in upstreams)
        {
            yield return "";
            if (upstream.Problem is not null)
            {
                yield return $"{upstream.Upstream}: FAIL {upstream.Problem}";
                continue;
            }

            yield return $"{upstream.Upstream} (probe tool {upstream.Tool}):";
            foreach (var (i, step) in upstream.Steps.Index())
            {
                yield return step.Tool.Length == 0
                    ? $"  {i + 1}. {step.Step,-8} {step.Expect}"
                    : $"  {i + 1}. {step.Step,-8} {step.Tool} {step.Arguments?.ToJsonString() ?? ""}".TrimEnd();
                if (step.Tool.Length > 0)
                {
                    yield return $"     expect: {step.Expect}";
                }

                if (step.Shortened)
                {
                    yield return $"     note: over {MaxToolName} characters, so Codex shows it shortened (its start, then '_' and 12 hex digits)";
                }
            }
        }
    }

    public static JsonObject Json(ClientModel client, ProfileModel profile, IReadOnlyList<AcceptanceUpstream> upstreams) => new()
    {
        ["client"] = client.Name,
        ["entry_name"] = client.EntryName,
        ["profile"] = profile.Name,
        ["compact"] = profile.CompactToolsEnabled,
        ["upstreams"] = new JsonArray([.. upstreams.Select(u => (JsonNode)new JsonObject
        {
            ["upstream"] = u.Upstream,
            ["tool"] = u.Tool,
            ["problem"] = u.Problem,
            ["steps"] = new JsonArray([.. u.Steps.Select(s => (JsonNode)new JsonObject
            {
                ["step"] = s.Step,
                ["tool"] = s.Tool.Length == 0 ? null : s.Tool,
                ["arguments"] = s.Arguments?.DeepClone(),
                ["expect"] = s.Expect,
                ["shortened"] = s.Shortened,
            })]),
        })]),
    };

    private static string Sanitize(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_').ToArray();
        return chars.Length == 0 ? "_" : new string(chars);
    }
}
