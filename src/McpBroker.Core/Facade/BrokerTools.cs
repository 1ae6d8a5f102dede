using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// search_tools, describe_tool and call_tool of a compact profile: each reads its arguments (a bad one is an
/// <c>invalid_arguments</c> error that says what to send), looks in the profile's view, and answers in JSON text.
/// </summary>
internal sealed class BrokerTools(ToolCatalog catalog, ProfileViews views, UpstreamCalls upstreamCalls, UnlistedTools unlisted)
{
    private const int DefaultLimit = 8;
    private const int MaxLimit = 50;
    private const int DetailedMatches = 3;

    public async Task<Outcome<CallToolResult>> SearchAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args,
        Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        if (!FacadeText.TryGetString(args, "query", out var query) || string.IsNullOrWhiteSpace(query))
        {
            return FacadeErrors.Invalid("'query' must be a non-empty string, e.g. {\"query\": \"create a github issue\"}");
        }

        if (query.Length > profile.MaxSearchQueryChars)
        {
            // A query is a few words; a long one only costs search time (every term is looked up).
            return new BrokerError(BrokerErrorCode.InvalidArguments, $"'query' is {query.Length} characters long; at most {profile.MaxSearchQueryChars} are searched",
                "search with a few words that describe the tool (broker.max_search_query_chars sets the limit)");
        }

        var limit = DefaultLimit;
        if (args.TryGetValue("limit", out var l) && (l.ValueKind != JsonValueKind.Number || !l.TryGetInt32(out limit) || limit < 1 || limit > MaxLimit))
        {
            return FacadeErrors.Invalid($"'limit' must be a whole number from 1 to {MaxLimit}");
        }

        var detail = false;
        if (args.TryGetValue("detail", out var d) && (d.ValueKind is not (JsonValueKind.True or JsonValueKind.False)))
        {
            return FacadeErrors.Invalid("'detail' must be true or false");
        }
        else if (d.ValueKind == JsonValueKind.True)
        {
            detail = true;
        }

        var (view, unavailable) = await views.WaitAsync(profile, sessionId, ct, progress);
        var snapshot = catalog.Current;
        var hits = snapshot.Index.Search(query, limit, view.Contains);
        var matches = new JsonArray();
        foreach (var hit in hits)
        {
            var tool = view.Find(hit.Key)!;
            matches.Add(FacadeText.Match(tool.ExposedName, tool.Tool, tool.Upstream.Name, tool.Mutating));
            matches[^1]!["matched"] = new JsonArray([.. hit.Matched.Select(w => (JsonNode)w)]);
            if (detail && matches.Count <= DetailedMatches)
            {
                matches[^1]!["inputSchema"] = JsonNode.Parse(tool.Tool.InputSchema.GetRawText());
            }
        }

        foreach (var name in FacadeTools.UnlistedMatching(query).Take(2))
        {
            var tool = FacadeTools.UnlistedDefinitions(profile.NameStyle).Single(t => t.Name == ToolNames.BrokerTool(name, profile.NameStyle));
            matches.Add(FacadeText.Match(tool.Name, tool, "broker", mutating: false));
        }

        var result = new JsonObject { ["matches"] = matches };
        if (hits.All(h => h.Weak) && matches.Count == hits.Count)
        {
            // Say so rather than offer tools that merely share a word with the request as if they fitted it.
            result["note"] = hits.Count == 0
                ? "No tool here matches this request. Try other words, or check status for servers that are not available."
                : "No tool here matches this request well: these only share a word with it. Try other words, or check status for servers that are not available.";
        }

        if (unavailable.Count > 0)
        {
            result["unavailable"] = FacadeText.Unavailable(unavailable);
        }

        return FacadeText.Text(result);
    }

    public async Task<Outcome<CallToolResult>> DescribeAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args,
        Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        if (!FacadeText.TryGetString(args, "name", out var name))
        {
            return FacadeErrors.Invalid("'name' must be a tool name as search_tools returned it");
        }

        if (FacadeTools.Match(name) is { } brokerTool && FacadeTools.Unlisted.Contains(brokerTool))
        {
            var own = FacadeTools.UnlistedDefinitions(profile.NameStyle).Single(t => t.Name == ToolNames.BrokerTool(brokerTool, profile.NameStyle));
            return FacadeText.Text(JsonSerializer.SerializeToNode(own, McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!);
        }

        var (view, unavailable) = await views.WaitAsync(profile, sessionId, ct, progress);
        if (view.Find(name) is not { } tool)
        {
            // A tool of an upstream that is not catalogued is unknown because that upstream is down or starting: say so.
            return views.Serving(profile, name).Select(u => unavailable.GetValueOrDefault(u.Name)).FirstOrDefault(e => e is not null) ?? views.UnknownTool(profile, name);
        }

        var definition = JsonSerializer.SerializeToNode(ProfileContext.Renamed(tool.Tool, tool.ExposedName), McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!.AsObject();
        WireExtras.MergeInto(definition, tool.Tool);
        definition["upstream"] = tool.Upstream.Name;
        definition["mutating"] = tool.Mutating;
        return FacadeText.Text(definition);
    }

    /// <summary>call_tool: an upstream tool by the name search returned, or one of the unlisted broker tools.</summary>
    public async Task<Outcome<CallToolResult>> CallAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args, Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        if (!FacadeText.TryGetString(args, "name", out var name))
        {
            return FacadeErrors.Invalid("'name' must be a tool name as search_tools returned it");
        }

        IDictionary<string, JsonElement>? arguments = null;
        if (args.TryGetValue("arguments", out var a) && a.ValueKind != JsonValueKind.Null)
        {
            if (a.ValueKind != JsonValueKind.Object)
            {
                return FacadeErrors.Invalid("'arguments' must be an object of the tool's arguments, e.g. {\"path\": \"/tmp\"}");
            }

            arguments = a.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
        }

        return FacadeTools.Match(name) is { } brokerTool && FacadeTools.Unlisted.Contains(brokerTool)
            ? await unlisted.CallAsync(profile, sessionId, brokerTool, arguments ?? new Dictionary<string, JsonElement>(), ct)
            : await upstreamCalls.CallAsync(profile, sessionId, name, arguments, progress, ct);
    }
}
