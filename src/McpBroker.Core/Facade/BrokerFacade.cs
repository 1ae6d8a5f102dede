using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// What a session's tools/list and tools/call do, for compact and raw profiles. Every failure on these paths
/// is a <see cref="BrokerError"/> until <see cref="ErrorResult"/> turns it into an MCP tool result.
/// </summary>
internal sealed class BrokerFacade(UpstreamRegistry registry, ToolCatalog catalog, BrokerResources resources, Telemetry.CallLog calls, IClientSessions? peers = null)
{
    private const int DefaultLimit = 8;
    private const int MaxLimit = 50;
    private const int OneLineLength = 160;
    private const int DetailedMatches = 3;
    // One view per profile object: sessions of one profile share it; a session whose profile is its own copy (view: raw,
    // or a shape kept across a reload) gets its own instead of evicting theirs on every call. Weak: a profile object
    // a reload replaced takes its view with it.
    private readonly ConditionalWeakTable<ProfileModel, ToolView> _views = new();

    public async ValueTask<ListToolsResult> ListToolsAsync(ProfileModel profile, string sessionId, string? cursor, CancellationToken ct) =>
        (await ListToolsWithSignatureAsync(profile, sessionId, cursor, ct)).Result;

    /// <summary>
    /// A session's tools/list, with the signature (<see cref="ListSignatureAsync"/>) of the very view it was listed from.
    /// Upstreams not catalogued are named under <c>_meta["mcp-broker/unavailable"]</c> (see <see cref="ToolCatalog.AvailableAsync"/>).
    /// </summary>
    public async ValueTask<(ListToolsResult Result, string? Signature)> ListToolsWithSignatureAsync(ProfileModel profile, string sessionId, string? cursor,
        CancellationToken ct)
    {
        if (profile.CompactToolsEnabled)
        {
            // search_tools names what the catalog holds now (nothing is started or waited for); the signature changes when
            // that does, so the session is told list_changed.
            var current = CurrentView(profile);
            return (new ListToolsResult { Tools = FacadeTools.Definitions(profile.NameStyle, Servers(profile, current)) }, Signature(profile, current));
        }

        var (view, unavailable) = await ViewAsync(profile, sessionId, ct);
        if (view.Tools.Count > profile.MaxTools)
        {
            return profile.OnOverBudget == OverBudgetAction.Compact
                ? (new ListToolsResult { Tools = FacadeTools.Definitions(profile.NameStyle, Servers(profile, view)) }, Signature(profile, view))
                : throw new McpProtocolException(
                    $"profile '{profile.Name}' would list {view.Tools.Count} tools, over its max_tools budget of {profile.MaxTools}; raise profiles.{profile.Name}.max_tools, set on_over_budget: compact, or use compact_tools_enabled: true",
                    McpErrorCode.InternalError);
        }

        var (offset, size) = (0, profile.ToolsPageSize == 0 ? int.MaxValue : profile.ToolsPageSize);
        if (cursor is not null && !TryReadCursor(cursor, view.ListKey, out offset))
        {
            throw new McpProtocolException("the tool list changed since this cursor was given (or the cursor is not one of ours); list again without a cursor",
                McpErrorCode.InvalidParams);
        }

        var page = view.Tools.Skip(offset).Take(size).Select(t => Renamed(t.Tool, t.ExposedName)).ToList();
        var next = offset + page.Count;
        return (new ListToolsResult
        {
            Tools = page,
            NextCursor = next < view.Tools.Count ? $"{view.ListKey}.{next}" : null,
            Meta = unavailable.Count == 0 ? null : new JsonObject { ["mcp-broker/unavailable"] = Unavailable(unavailable) },
        }, Signature(profile, view));
    }

    /// <summary>
    /// What the session's tools/list shows now, as a fingerprint: it differs exactly when the list a client holds is
    /// out of date, so a session is told list_changed only then.
    /// </summary>
    public async ValueTask<string> ListSignatureAsync(ProfileModel profile, string sessionId, CancellationToken ct) =>
        Signature(profile, (await ViewAsync(profile, sessionId, ct)).View);

    /// <summary>The signature of what the catalog holds now (nothing listed, started or waited for): for change notices.</summary>
    public string CurrentSignature(ProfileModel profile) => Signature(profile, CurrentView(profile));

    private string Signature(ProfileModel profile, ToolView view) =>
        profile.CompactToolsEnabled ? FacadeTools.SearchDescription(profile.NameStyle, Servers(profile, view))
        : view.Tools.Count > profile.MaxTools ? "over-budget" + (profile.OnOverBudget == OverBudgetAction.Compact ? "\n" + FacadeTools.SearchDescription(profile.NameStyle, Servers(profile, view)) : "")
        : string.Join('\n', view.Tools.Select(t => $"{t.ExposedName}\t{t.Tool.Description}\t{t.Tool.InputSchema.GetRawText()}\t{t.Tool.Annotations?.ReadOnlyHint}"));

    /// <summary>The servers a compact list names in search_tools' description: the profile's upstreams, with what the catalog holds of each.</summary>
    private List<FacadeServer> Servers(ProfileModel profile, ToolView view) =>
        ProfileContext.Servers(profile.Upstreams.Select(registry.FindModel).OfType<UpstreamModel>().Where(u => u.Mode != UpstreamMode.Disabled), view);

    private static JsonArray Unavailable(IReadOnlyDictionary<string, BrokerError> unavailable) =>
        new([.. unavailable.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => (JsonNode)new JsonObject { ["upstream"] = f.Key, ["error"] = f.Value.Message })]);

    /// <summary>A cursor is the list's key and an offset: good while the profile lists the same tools (see <see cref="ToolView.ListKey"/>).</summary>
    private static bool TryReadCursor(string cursor, string listKey, out int offset)
    {
        offset = 0;
        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && cursor.AsSpan(0, dot).SequenceEqual(listKey)
            && int.TryParse(cursor.AsSpan(dot + 1), out offset) && offset >= 0;
    }

    /// <summary>A tool call from a session; <paramref name="progress"/> (when the client asked for progress) gets the upstream's progress params.</summary>
    public async ValueTask<CallToolResult> CallToolAsync(ProfileModel profile, string sessionId, CallToolRequestParams request, CancellationToken ct,
        Func<JsonObject, ValueTask>? progress = null)
    {
        Outcome<CallToolResult> outcome;
        using var span = CallSpan(profile, sessionId, request.Name);
        try
        {
            outcome = await DispatchAsync(profile, sessionId, request, progress, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            outcome = Failed(request.Name, ex);
        }

        return outcome.Ok ? outcome.Value! : ErrorResult(outcome.Error!);
    }

    /// <summary>The span of one session's tool call (null, and nothing built, when no one listens).</summary>
    private static System.Diagnostics.Activity? CallSpan(ProfileModel profile, string sessionId, string tool)
    {
        var span = Telemetry.BrokerTelemetry.Source.StartActivity(Telemetry.BrokerTelemetry.CallSpan, System.Diagnostics.ActivityKind.Internal);
        if (span is not null)
        {
            span.SetTag("mcp_broker.session.id", sessionId);
            span.SetTag("mcp_broker.profile", profile.Name);
            span.SetTag("mcp_broker.tool", tool);
        }

        return span;
    }

    /// <summary>A bug must not surface as the SDK's bare "An error occurred": keep the error shape clients parse.</summary>
    private static BrokerError Failed(string tool, Exception ex) => new(BrokerErrorCode.Internal, $"the broker failed while handling '{tool}': {ex.GetType().Name}",
        "retry; if it persists, the daemon log ({runtime.root}/logs/daemon.log) has details");

    private async Task<Outcome<CallToolResult>> DispatchAsync(ProfileModel profile, string sessionId, CallToolRequestParams request, Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        var arguments = request.Arguments ?? new Dictionary<string, JsonElement>();
        var brokerTool = FacadeTools.Match(request.Name);
        var compact = profile.CompactToolsEnabled
            || (brokerTool is not null && profile.OnOverBudget == OverBudgetAction.Compact && (await ViewAsync(profile, sessionId, ct)).View.Tools.Count > profile.MaxTools);
        return brokerTool is not null && (compact || brokerTool == FacadeTools.Status)
            ? brokerTool switch
            {
                FacadeTools.Search => await SearchAsync(profile, sessionId, arguments, progress, ct),
                FacadeTools.Describe => await DescribeAsync(profile, sessionId, arguments, progress, ct),
                FacadeTools.Call => await CallThroughAsync(profile, sessionId, arguments, progress, ct),
                FacadeTools.Status => Text(Status(profile, sessionId)),
                var unlisted => await UnlistedAsync(profile, sessionId, unlisted, arguments, ct),
            }
            : compact
                ? new BrokerError(BrokerErrorCode.UnknownTool, $"'{request.Name}' is not a broker tool",
                    $"call upstream tools through {ToolNames.BrokerTool(FacadeTools.Call, profile.NameStyle)} with the name {ToolNames.BrokerTool(FacadeTools.Search, profile.NameStyle)} returned")
                : await CallUpstreamAsync(profile, sessionId, request.Name, request.Arguments, progress, ct);
    }

    /// <summary>A search match: enough to pick a tool and call it, not its schema (describe_tool has that).</summary>
    public static JsonObject Match(string name, Tool tool, string upstream, bool mutating) => new()
    {
        ["name"] = name,
        ["description"] = OneLine(tool.Description),
        ["upstream"] = upstream,
        ["mutating"] = mutating,
        ["required"] = new JsonArray([.. RequiredArguments(tool).Select(r => (JsonNode)r)]),
    };

    /// <summary>The name the session's client gave (its --client, or its clientInfo), for the recent calls; null over HTTP.</summary>
    private string? ClientOf(string sessionId) => peers?.Find(sessionId)?.Client;

    /// <summary>The one place a call-path failure becomes what the client reads.</summary>
    public static CallToolResult ErrorResult(BrokerError error) => new()
    {
        IsError = true,
        Content =
        [
            new TextContentBlock
            {
                Text = new JsonObject
                {
                    ["error"] = new JsonObject { ["code"] = error.CodeName, ["message"] = error.Message, ["hint"] = error.Hint },
                }.ToJsonString(),
            },
        ],
    };

    /// <summary>The profile's context figures over what the catalog holds now (nothing is listed or started).</summary>
    public ProfileContext Context(ProfileModel profile) => Context(profile, catalog.Current);

    private ProfileContext Context(ProfileModel profile, CatalogSnapshot snapshot) => ProfileContext.Of(profile, ViewOf(profile, snapshot), snapshot,
        [.. profile.Upstreams.Select(registry.FindModel).OfType<UpstreamModel>().Where(u => u.Mode != UpstreamMode.Disabled)]);

    public JsonObject Status(ProfileModel profile, string? sessionId)
    {
        var snapshot = catalog.Current;
        var view = ViewOf(profile, snapshot);
        var upstreams = new JsonArray();
        foreach (var name in profile.Upstreams)
        {
            if (registry.FindModel(name) is not { } upstream)
            {
                continue;
            }

            var state = registry.Snapshot(name, sessionId);
            upstreams.Add(new JsonObject
            {
                ["name"] = state.Name,
                ["mode"] = upstream.Mode switch { UpstreamMode.PerSession => "per_session", UpstreamMode.PerCall => "per_call", _ => "shared" },
                ["transport"] = upstream.Transport.ToString().ToLowerInvariant(),
                ["protocol"] = state.Protocol,
                ["url"] = upstream.Remote?.DisplayUrl,
                ["state"] = state.State,
                ["pid"] = state.Pid,
                ["instances"] = registry.Instances(name),
                ["sessions"] = state.Sessions,
                ["in_flight"] = state.InFlight,
                ["restarts"] = state.Restarts,
                ["failures"] = state.ConsecutiveFailures,
                ["retry_at"] = state.RetryAt,
                ["tools"] = snapshot.Upstreams.ContainsKey(name) ? view.Tools.Count(t => t.Upstream.Name == name) : null,
                ["last_error"] = state.LastError,
                ["auth"] = AuthProbe.Of(upstream, DaemonEnvironment.Get, DateTimeOffset.UtcNow).ToJson(),
            });
            if (upstream.Limits is not null)
            {
                upstreams[^1]!["limits"] = ResourceCeiling.Status(upstream.Limits, [state]);
            }

            var withheld = view.Withheld.Where(w => w.Tool.Upstream.Name == name).ToList();
            if (withheld.Any(w => w.Why == Withheld.Mutating))
            {
                upstreams[^1]!["mutating_hidden"] = withheld.Count(w => w.Why == Withheld.Mutating);
            }

            if (withheld.Any(w => w.Why == Withheld.Quarantined))
            {
                upstreams[^1]!["quarantined"] = new JsonArray([.. withheld.Where(w => w.Why == Withheld.Quarantined)
                    .Select(w => (JsonNode)new JsonObject { ["tool"] = w.Tool.Tool.Name, ["reason"] = w.Reason })]);
            }
        }

        return new JsonObject { ["profile"] = profile.Name, ["upstreams"] = upstreams, ["context"] = Context(profile, snapshot).ToJson() };
    }

    /// <summary>
    /// The profile's view for list, search and describe: what the catalog holds, after a bounded wait for upstreams
    /// listed for the first time (never for one that failed), and why each missing upstream is missing.
    /// </summary>
    /// <param name="progress">When the client asked for progress: told which upstreams it waits for while they start.</param>
    private async ValueTask<(ToolView View, IReadOnlyDictionary<string, BrokerError> Unavailable)> ViewAsync(ProfileModel profile, string sessionId, CancellationToken ct,
        Func<JsonObject, ValueTask>? progress = null)
    {
        var (snapshot, unavailable) = await StartProgress.WhileAsync(catalog.AvailableAsync(profile.Upstreams, sessionId, waitForFirstListings: true, ct).AsTask(),
            () => Starting(profile.Upstreams, sessionId), progress, calls.Time, ct);
        return (ViewOf(profile, snapshot), unavailable);
    }

    /// <summary>Which of <paramref name="upstreams"/> are not catalogued yet and are starting (or listing their tools) now, named for a progress note.</summary>
    private List<string> Starting(IEnumerable<string> upstreams, string sessionId)
    {
        var catalogued = catalog.Current.Upstreams;
        return [.. upstreams.Where(name => !catalogued.ContainsKey(name) && registry.Snapshot(name, sessionId).State is "starting" or "running")
            .Select(name => StartProgress.Label(name, registry.FindModel(name)?.Command))];
    }

    /// <summary>The profile's view of what the catalog holds now: nothing is listed, started or waited for.</summary>
    private ToolView CurrentView(ProfileModel profile) => ViewOf(profile, catalog.Current);

    private ToolView ViewOf(ProfileModel profile, CatalogSnapshot snapshot)
    {
        if (_views.TryGetValue(profile, out var view) && view.CatalogVersion == snapshot.Version)
        {
            return view;
        }

        view = ToolView.Build(profile, snapshot);
        _views.AddOrUpdate(profile, view);
        return view;
    }

    private async Task<Outcome<CallToolResult>> SearchAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args,
        Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        if (!TryGetString(args, "query", out var query) || string.IsNullOrWhiteSpace(query))
        {
            return Invalid("'query' must be a non-empty string, e.g. {\"query\": \"create a github issue\"}");
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
            return Invalid($"'limit' must be a whole number from 1 to {MaxLimit}");
        }

        var detail = false;
        if (args.TryGetValue("detail", out var d) && (d.ValueKind is not (JsonValueKind.True or JsonValueKind.False)))
        {
            return Invalid("'detail' must be true or false");
        }
        else if (d.ValueKind == JsonValueKind.True)
        {
            detail = true;
        }

        var (view, unavailable) = await ViewAsync(profile, sessionId, ct, progress);
        var snapshot = catalog.Current;
        var hits = snapshot.Index.Search(query, limit, view.Contains);
        var matches = new JsonArray();
        foreach (var hit in hits)
        {
            var tool = view.Find(hit.Key)!;
            matches.Add(Match(tool.ExposedName, tool.Tool, tool.Upstream.Name, tool.Mutating));
            matches[^1]!["matched"] = new JsonArray([.. hit.Matched.Select(w => (JsonNode)w)]);
            if (detail && matches.Count <= DetailedMatches)
            {
                matches[^1]!["inputSchema"] = JsonNode.Parse(tool.Tool.InputSchema.GetRawText());
            }
        }

        foreach (var unlisted in FacadeTools.UnlistedMatching(query).Take(2))
        {
            var tool = FacadeTools.UnlistedDefinitions(profile.NameStyle).Single(t => t.Name == ToolNames.BrokerTool(unlisted, profile.NameStyle));
            matches.Add(Match(tool.Name, tool, "broker", mutating: false));
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
            result["unavailable"] = Unavailable(unavailable);
        }

        return Text(result);
    }

    private async Task<Outcome<CallToolResult>> DescribeAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args,
        Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        if (!TryGetString(args, "name", out var name))
        {
            return Invalid("'name' must be a tool name as search_tools returned it");
        }

        if (FacadeTools.Match(name) is { } brokerTool && FacadeTools.Unlisted.Contains(brokerTool))
        {
            var own = FacadeTools.UnlistedDefinitions(profile.NameStyle).Single(t => t.Name == ToolNames.BrokerTool(brokerTool, profile.NameStyle));
            return Text(JsonSerializer.SerializeToNode(own, McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!);
        }

        var (view, unavailable) = await ViewAsync(profile, sessionId, ct, progress);
        if (view.Find(name) is not { } tool)
        {
            // A tool of an upstream that is not catalogued is unknown because that upstream is down or starting: say so.
            return Serving(profile, name).Select(u => unavailable.GetValueOrDefault(u.Name)).FirstOrDefault(e => e is not null) ?? UnknownTool(profile, name);
        }

        var definition = JsonSerializer.SerializeToNode(Renamed(tool.Tool, tool.ExposedName), McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!.AsObject();
        WireExtras.MergeInto(definition, tool.Tool);
        definition["upstream"] = tool.Upstream.Name;
        definition["mutating"] = tool.Mutating;
        return Text(definition);
    }

    private async Task<Outcome<CallToolResult>> CallThroughAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args, Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        if (!TryGetString(args, "name", out var name))
        {
            return Invalid("'name' must be a tool name as search_tools returned it");
        }

        IDictionary<string, JsonElement>? arguments = null;
        if (args.TryGetValue("arguments", out var a) && a.ValueKind != JsonValueKind.Null)
        {
            if (a.ValueKind != JsonValueKind.Object)
            {
                return Invalid("'arguments' must be an object of the tool's arguments, e.g. {\"path\": \"/tmp\"}");
            }

            arguments = a.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
        }

        return FacadeTools.Match(name) is { } brokerTool && FacadeTools.Unlisted.Contains(brokerTool)
            ? await UnlistedAsync(profile, sessionId, brokerTool, arguments ?? new Dictionary<string, JsonElement>(), ct)
            : await CallUpstreamAsync(profile, sessionId, name, arguments, progress, ct);
    }

    /// <summary>A compact profile's way to resources and prompts (see <see cref="FacadeTools.Unlisted"/>); names as a raw profile shows them.</summary>
    private async Task<Outcome<CallToolResult>> UnlistedAsync(ProfileModel profile, string sessionId, string tool, IDictionary<string, JsonElement> args, CancellationToken ct)
    {
        var upstream = args.TryGetValue("upstream", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        if (upstream is not null && !profile.Upstreams.Contains(upstream, StringComparer.Ordinal))
        {
            return Invalid($"'upstream' must be one of this profile's upstreams: {string.Join(", ", profile.Upstreams)}");
        }

        var only = upstream is null ? profile : profile with { Upstreams = [upstream] };
        try
        {
            switch (tool)
            {
                case FacadeTools.ListResources:
                    var listed = await resources.ListResourcesAsync(only, sessionId, null, ct);
                    var templates = await resources.ListResourceTemplatesAsync(only, sessionId, null, ct);
                    return Text(new JsonObject
                    {
                        ["resources"] = new JsonArray([.. listed.Resources.Select(r => (JsonNode)new JsonObject
                        {
                            ["uri"] = r.Uri, ["name"] = r.Name, ["description"] = OneLine(r.Description), ["mimeType"] = r.MimeType,
                        })]),
                        ["templates"] = new JsonArray([.. templates.ResourceTemplates.Select(t => (JsonNode)new JsonObject
                        {
                            ["uriTemplate"] = t.UriTemplate, ["name"] = t.Name, ["description"] = OneLine(t.Description),
                        })]),
                        ["unavailable"] = listed.Meta?["mcp-broker/unavailable"]?.DeepClone(),
                    });
                case FacadeTools.ReadResource:
                    if (!TryGetString(args, "uri", out var uri))
                    {
                        return Invalid("'uri' must be a resource URI as list_resources gave it");
                    }

                    var read = await resources.ReadResourceAsync(profile, sessionId, new ReadResourceRequestParams { Uri = uri }, ct);
                    return new CallToolResult { Content = [.. read.Contents.Select(c => (ContentBlock)new EmbeddedResourceBlock { Resource = c })] };
                case FacadeTools.ListPrompts:
                    var prompts = await resources.ListPromptsAsync(only, sessionId, null, ct);
                    return Text(new JsonObject
                    {
                        ["prompts"] = new JsonArray([.. prompts.Prompts.Select(p => (JsonNode)new JsonObject
                        {
                            ["name"] = p.Name, ["description"] = OneLine(p.Description),
                            ["arguments"] = new JsonArray([.. (p.Arguments ?? []).Select(a => (JsonNode)new JsonObject { ["name"] = a.Name, ["required"] = a.Required == true })]),
                        })]),
                        ["unavailable"] = prompts.Meta?["mcp-broker/unavailable"]?.DeepClone(),
                    });
                default:
                    if (!TryGetString(args, "name", out var prompt))
                    {
                        return Invalid("'name' must be a prompt name as list_prompts gave it");
                    }

                    Dictionary<string, JsonElement>? values = null;
                    if (args.TryGetValue("arguments", out var v) && v.ValueKind == JsonValueKind.Object)
                    {
                        values = v.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
                    }

                    var got = await resources.GetPromptAsync(profile, sessionId, new GetPromptRequestParams { Name = prompt, Arguments = values }, ct);
                    return Text(JsonSerializer.SerializeToNode(got, McpJsonUtilities.DefaultOptions.GetTypeInfo<GetPromptResult>())!);
            }
        }
        catch (McpProtocolException ex)
        {
            return new BrokerError(ex.ErrorCode is McpErrorCode.ResourceNotFound or McpErrorCode.InvalidParams ? BrokerErrorCode.InvalidArguments : BrokerErrorCode.UpstreamError,
                ex.Message, tool is FacadeTools.ReadResource or FacadeTools.GetPrompt
                    ? $"use a name exactly as {ToolNames.BrokerTool(tool == FacadeTools.ReadResource ? FacadeTools.ListResources : FacadeTools.ListPrompts, profile.NameStyle)} gave it"
                    : "'broker.status' shows the upstreams' state");
        }
    }

    /// <summary>
    /// Calls an upstream tool the profile shows, by its exposed name, recorded (call log, metrics, an upstream span)
    /// with its outcome; a withheld, unknown or unreachable tool is the error a client reads instead.
    /// </summary>
    private async Task<Outcome<CallToolResult>> CallUpstreamAsync(ProfileModel profile, string sessionId, string name, IDictionary<string, JsonElement>? arguments,
        Func<JsonObject, ValueTask>? progress, CancellationToken ct)
    {
        // A call needs only its own upstream's tools: what the catalog holds, or that one upstream listed now. No other
        // upstream is listed, started or waited for on this path.
        var snapshot = catalog.Current;
        var view = ViewOf(profile, snapshot);
        BrokerError? down = null;
        if (view.Find(name) is null && view.FindWithheld(name) is null)
        {
            var missing = Serving(profile, name).Where(u => !snapshot.Upstreams.ContainsKey(u.Name)).ToList();
            if (missing.Count > 0)
            {
                var listed = await StartProgress.WhileAsync(Task.WhenAll(missing.Select(u => catalog.ListedAsync(u.Name, sessionId, ct).AsTask())),
                    () => Starting(missing.Select(u => u.Name), sessionId), progress, calls.Time, ct);
                down = listed.Select(l => l.Error).FirstOrDefault(e => e is not null);
            }
            else if (profile.Transparent && profile.Upstreams.Any(u => !snapshot.Upstreams.ContainsKey(u)))
            {
                // Unprefixed names do not say their upstream: a transparent profile waits as tools/list does.
                var (_, unavailable) = await ViewAsync(profile, sessionId, ct, progress);
                down = unavailable.Values.FirstOrDefault();
            }

            view = CurrentView(profile);
        }

        if (view.FindWithheld(name) is { } withheld)
        {
            var refusal = Refusal(profile, withheld.Tool, withheld.Why, withheld.Reason);
            calls.Refused(profile.Name, withheld.Tool.Upstream.Name, withheld.Tool.Tool.Name, refusal.CodeName, ClientOf(sessionId));
            return refusal;
        }

        if (view.Find(name) is not { } tool || registry.Acquire(tool.Upstream.Name, sessionId) is not { } lease)
        {
            var error = down ?? UnknownTool(profile, name);
            calls.Refused(profile.Name, view.Find(name)?.Upstream.Name ?? "", view.Find(name)?.Tool.Name ?? name, error.CodeName, ClientOf(sessionId));
            return error;
        }

        await using (lease)
        {
            var idempotent = (tool.Upstream.ToolOverrides.GetValueOrDefault(tool.Tool.Name)?.Idempotent ?? tool.Tool.Annotations?.IdempotentHint) == true;
            var started = calls.Time.GetTimestamp();
            using var span = Telemetry.BrokerTelemetry.Source.StartActivity(Telemetry.BrokerTelemetry.UpstreamSpan, System.Diagnostics.ActivityKind.Client);
            span?.SetTag("mcp_broker.upstream", tool.Upstream.Name);
            span?.SetTag("mcp_broker.tool", tool.Tool.Name);
            Outcome<CallToolResult> outcome;
            try
            {
                // A stopped upstream starts for the call: the client hears of it while it does.
                var supervisor = lease.Supervisor;
                outcome = await StartProgress.WhileAsync(supervisor.CallToolAsync(sessionId, tool.Tool.Name, WithDefaults(tool, arguments), ct, idempotent, progress),
                    () => supervisor.Snapshot().State == "starting" ? [StartProgress.Label(tool.Upstream.Name, tool.Upstream.Command)] : [], progress, calls.Time, ct);
            }
            catch (Exception ex)
            {
                // Counted too (a cancellation as such, anything else as the internal error the client is told).
                var failed = ex is OperationCanceledException && ct.IsCancellationRequested ? BrokerErrorCode.Cancelled : BrokerErrorCode.Internal;
                calls.Record(profile.Name, tool.Upstream.Name, tool.Tool.Name, started, new BrokerError(failed, "", "").CodeName, ClientOf(sessionId));
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.GetType().Name);
                throw;
            }

            var toolError = outcome.Ok && outcome.Value!.IsError == true;
            var result = outcome.Ok ? toolError ? Telemetry.CallLog.ToolError : Telemetry.CallLog.Ok : outcome.Error!.CodeName;
            calls.Record(profile.Name, tool.Upstream.Name, tool.Tool.Name, started, result, ClientOf(sessionId));
            if (span is not null)
            {
                span.SetTag("mcp_broker.outcome", result);
                span.SetStatus(outcome.Ok && !toolError ? System.Diagnostics.ActivityStatusCode.Ok : System.Diagnostics.ActivityStatusCode.Error, outcome.Ok ? null : result);
            }

            if (outcome.Ok)
            {
                ResourceNames.ExposeIn(profile, tool.Upstream, outcome.Value!.Content);
            }

            return outcome;
        }
    }

    /// <summary>The profile's upstreams a name would belong to by its prefix (<c>PREFIX.tool</c> or <c>PREFIX__tool</c>).</summary>
    private IEnumerable<UpstreamModel> Serving(ProfileModel profile, string name) => profile.Upstreams
        .Select(registry.FindModel).OfType<UpstreamModel>()
        .Where(m => name.StartsWith(m.Prefix + ".", StringComparison.Ordinal) || name.StartsWith(m.Prefix + "__", StringComparison.Ordinal));

    private static BrokerError Refusal(ProfileModel profile, ExposedTool tool, Withheld why, string? reason) => why == Withheld.Mutating
        ? new BrokerError(BrokerErrorCode.MutatingNotAllowed,
            $"'{tool.ExposedName}' may change things, and profile '{profile.Name}' does not allow mutating tools of upstream '{tool.Upstream.Name}'",
            $"ask the user to allow it: profiles.{profile.Name}.allow_mutating_tools: [{tool.CanonicalName}] (or allow_mutating_upstreams: [{tool.Upstream.Name}])")
        : new BrokerError(BrokerErrorCode.ToolQuarantined,
            $"'{tool.ExposedName}' is quarantined: {reason}",
            $"ask the user to review it and run: mcp-broker tools approve {tool.Upstream.Name} {tool.Tool.Name}");

    /// <summary>The tool's configured default arguments, under whatever the caller passed itself.</summary>
    private static IDictionary<string, JsonElement>? WithDefaults(ExposedTool tool, IDictionary<string, JsonElement>? arguments)
    {
        if (tool.Upstream.ToolOverrides.GetValueOrDefault(tool.Tool.Name) is not { Defaults.Count: > 0 } overrides)
        {
            return arguments;
        }

        var merged = new Dictionary<string, JsonElement>(overrides.Defaults, StringComparer.Ordinal);
        foreach (var (key, value) in arguments ?? new Dictionary<string, JsonElement>())
        {
            merged[key] = value;
        }

        return merged;
    }

    private BrokerError UnknownTool(ProfileModel profile, string name)
    {
        var search = ToolNames.BrokerTool(FacadeTools.Search, profile.NameStyle);
        var hint = profile.CompactToolsEnabled
            ? $"use a name exactly as {search} returned it"
            : "use a name exactly as tools/list returned it";
        if (_views.TryGetValue(profile, out var view) && name.Length <= 256
            && catalog.Current.Index.Search(name, 1, view.Contains) is [var best] && view.Find(best.Key) is { } suggestion)
        {
            hint += $"; did you mean '{suggestion.ExposedName}'?";
        }

        return new BrokerError(BrokerErrorCode.UnknownTool, $"no tool named '{Truncate(name, 200)}' in profile '{profile.Name}'", hint);
    }

    private static BrokerError Invalid(string message) => new(BrokerErrorCode.InvalidArguments, message, "see the tool's input schema in tools/list");

    private static CallToolResult Text(JsonNode node) => new() { Content = [new TextContentBlock { Text = node.ToJsonString() }] };

    private static bool TryGetString(IDictionary<string, JsonElement> args, string key, out string value)
    {
        value = args.TryGetValue(key, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "";
        return value.Length > 0;
    }

    private static IEnumerable<string> RequiredArguments(Tool tool) =>
        tool.InputSchema.ValueKind == JsonValueKind.Object && tool.InputSchema.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)
            : [];

    private static string OneLine(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "";
        }

        var line = text.Trim().Split('\n', 2)[0].Trim();
        var sentence = line.IndexOf(". ", StringComparison.Ordinal);
        if (sentence > 0)
        {
            line = line[..(sentence + 1)];
        }

        return Truncate(line, OneLineLength);
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static Tool Renamed(Tool tool, string name) => ProfileContext.Renamed(tool, name);
}
