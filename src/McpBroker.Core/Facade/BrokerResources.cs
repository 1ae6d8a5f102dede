using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;
using McpBroker.Upstreams;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// A session's resources, resource templates, prompts and completions: the lists of the profile's upstreams merged
/// under names that lead back to them (<see cref="ResourceNames"/>), and each read, get, subscribe and complete
/// routed to the upstream that owns the name. A transparent profile forwards every request as it came (cursors
/// included) to its one upstream and returns the answer unchanged. Failures are MCP errors: these are protocol
/// methods, not tool calls.
/// </summary>
internal sealed class BrokerResources(UpstreamRegistry registry)
{
    // Per upstream not running when a merged list asked it: since when lists have waited for it (Environment.TickCount64).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _waitingSince = new(StringComparer.Ordinal);

    public async ValueTask<ListResourcesResult> ListResourcesAsync(ProfileModel profile, string sessionId, ListResourcesRequestParams? request, CancellationToken ct)
    {
        if (Transparent(profile) is { } only)
        {
            return await OnAsync(only, sessionId, (client, token) => client.ListResourcesAsync(request ?? new(), token), ct);
        }

        var (lists, meta) = await MergeAsync(profile, sessionId, c => c.Resources is not null,
            async (client, token) => (await client.ListResourcesAsync(cancellationToken: token)).Select(r => r.ProtocolResource).ToList(), ct);
        var resources = new List<Resource>();
        foreach (var (upstream, list) in lists)
        {
            foreach (var resource in list)
            {
                resource.Uri = ResourceNames.Expose(profile, upstream, resource.Uri);
                resources.Add(resource);
            }
        }

        return new ListResourcesResult { Resources = resources, Meta = meta };
    }

    public async ValueTask<ListResourceTemplatesResult> ListResourceTemplatesAsync(ProfileModel profile, string sessionId, ListResourceTemplatesRequestParams? request,
        CancellationToken ct)
    {
        if (Transparent(profile) is { } only)
        {
            return await OnAsync(only, sessionId, (client, token) => client.ListResourceTemplatesAsync(request ?? new(), token), ct);
        }

        var (lists, meta) = await MergeAsync(profile, sessionId, c => c.Resources is not null,
            async (client, token) => (await client.ListResourceTemplatesAsync(cancellationToken: token)).Select(r => r.ProtocolResourceTemplate).ToList(), ct);
        var templates = new List<ResourceTemplate>();
        foreach (var (upstream, list) in lists)
        {
            foreach (var template in list)
            {
                template.UriTemplate = ResourceNames.Expose(profile, upstream, template.UriTemplate);
                templates.Add(template);
            }
        }

        return new ListResourceTemplatesResult { ResourceTemplates = templates, Meta = meta };
    }

    public async ValueTask<ReadResourceResult> ReadResourceAsync(ProfileModel profile, string sessionId, ReadResourceRequestParams request, CancellationToken ct)
    {
        var (upstream, uri) = ResolveResource(profile, request.Uri);
        var result = await OnAsync(upstream, sessionId, (client, token) =>
            client.ReadResourceAsync(new ReadResourceRequestParams { Uri = uri, Meta = ForwardedMeta.Of(request.Meta) }, token), ct);
        if (!profile.Transparent)
        {
            foreach (var content in result.Contents)
            {
                content.Uri = ResourceNames.Expose(profile, upstream, content.Uri);
            }
        }

        return result;
    }

    public async ValueTask<EmptyResult> SubscribeAsync(ProfileModel profile, string sessionId, string exposedUri, bool subscribe, CancellationToken ct)
    {
        var (upstream, uri) = ResolveResource(profile, exposedUri);
        if (upstream.Mode == UpstreamMode.PerCall)
        {
            throw new McpProtocolException($"upstream '{upstream.Name}' runs one process per call (mode: per_call), so nothing stays running to send updates; use mode shared or per_session",
                McpErrorCode.InvalidParams);
        }

        await using var lease = Lease(upstream, sessionId);
        var outcome = subscribe
            ? await lease.Supervisor.SubscribeAsync(sessionId, uri, ct)
            : await lease.Supervisor.UnsubscribeAsync(sessionId, uri, ct);
        return outcome.Ok ? new EmptyResult() : throw Failure(outcome.Error!);
    }

    public async ValueTask<ListPromptsResult> ListPromptsAsync(ProfileModel profile, string sessionId, ListPromptsRequestParams? request, CancellationToken ct)
    {
        if (Transparent(profile) is { } only)
        {
            return await OnAsync(only, sessionId, async (client, token) => await WireExtras.ListPromptsAsync(client, request?.Cursor, token), ct);
        }

        var (lists, meta) = await MergeAsync(profile, sessionId, c => c.Prompts is not null,
            async (client, token) => (await WireExtras.ListAllPromptsAsync(client, token)).ToList(), ct);
        var prompts = new List<Prompt>();
        foreach (var (upstream, list) in lists)
        {
            foreach (var prompt in list)
            {
                prompt.Name = ResourceNames.ExposePrompt(profile, upstream, prompt.Name);
                prompts.Add(prompt);
            }
        }

        return new ListPromptsResult { Prompts = prompts, Meta = meta };
    }

    public async ValueTask<GetPromptResult> GetPromptAsync(ProfileModel profile, string sessionId, GetPromptRequestParams request, CancellationToken ct)
    {
        var (upstream, name) = ResolvePrompt(profile, request.Name);
        var result = await OnAsync(upstream, sessionId, (client, token) =>
            client.GetPromptAsync(new GetPromptRequestParams { Name = name, Arguments = request.Arguments, Meta = ForwardedMeta.Of(request.Meta) }, token), ct);
        ResourceNames.ExposeIn(profile, upstream, result.Messages.Select(m => m.Content));
        return result;
    }

    public async ValueTask<CompleteResult> CompleteAsync(ProfileModel profile, string sessionId, CompleteRequestParams request, CancellationToken ct)
    {
        var (upstream, reference) = request.Ref switch
        {
            PromptReference prompt when ResolvePrompt(profile, prompt.Name) is var (u, name) => (u, (Reference)new PromptReference { Name = name, Title = prompt.Title }),
            ResourceTemplateReference template when ResolveResource(profile, template.Uri ?? "") is var (u, uri) => (u, new ResourceTemplateReference { Uri = uri }),
            _ => throw new McpProtocolException("completion/complete needs ref/prompt (a prompt name) or ref/resource (a resource template URI)", McpErrorCode.InvalidParams),
        };
        return await OnAsync(upstream, sessionId, (client, token) =>
            client.CompleteAsync(new CompleteRequestParams { Ref = reference, Argument = request.Argument, Context = request.Context, Meta = ForwardedMeta.Of(request.Meta) }, token), ct);
    }

    private UpstreamModel? Transparent(ProfileModel profile) => profile.Transparent && Upstreams(profile) is [var only] ? only : null;

    private (UpstreamModel Upstream, string Uri) ResolveResource(ProfileModel profile, string exposed) =>
        ResourceNames.Resolve(profile, Upstreams(profile), exposed)
        ?? throw new McpProtocolException(profile.Transparent
            ? $"profile '{profile.Name}' has no upstream to read '{exposed}' from"
            : $"no resource '{exposed}' in profile '{profile.Name}': the broker names resources {ResourceNames.Scheme}PREFIX/URI; use a URI exactly as resources/list or a template of resources/templates/list gave it",
            McpErrorCode.ResourceNotFound);

    private (UpstreamModel Upstream, string Name) ResolvePrompt(ProfileModel profile, string exposed) =>
        ResourceNames.ResolvePrompt(profile, Upstreams(profile), exposed)
        ?? throw new McpProtocolException($"no prompt named '{exposed}' in profile '{profile.Name}'; use a name exactly as prompts/list gave it", McpErrorCode.InvalidParams);

    private List<UpstreamModel> Upstreams(ProfileModel profile) => [.. profile.Upstreams.Select(registry.FindModel).OfType<UpstreamModel>()];

    private UpstreamLease Lease(UpstreamModel upstream, string sessionId) =>
        registry.Acquire(upstream.Name, sessionId) ?? throw new McpProtocolException($"upstream '{upstream.Name}' is not enabled", McpErrorCode.InvalidParams);

    /// <summary>One request on one upstream; the upstream's own errors come through as they are.</summary>
    private async Task<T> OnAsync<T>(UpstreamModel upstream, string sessionId, Func<McpClient, CancellationToken, ValueTask<T>> action, CancellationToken ct)
    {
        await using var lease = Lease(upstream, sessionId);
        var outcome = await lease.Supervisor.RequestAsync(sessionId, retryable: true, async (client, token) => ForwardedMeta.Strip(await action(client, token)), ct);
        return outcome.Ok ? outcome.Value! : throw Failure(outcome.Error!);
    }

    /// <summary>
    /// Asks every upstream of the profile that may offer the feature, at once. One that fails leaves its part out and is
    /// named under <c>_meta["mcp-broker/unavailable"]</c>, so one broken server does not hide the rest. As for tools
    /// (docs/architecture.md, "No head-of-line blocking"): one that has failed and is not running is not started from
    /// here (the catalog retries it in the background), and one not running yet is waited for only up to
    /// <see cref="Catalog.ToolCatalog.FirstListingWait"/>.
    /// </summary>
    private async Task<(List<(UpstreamModel Upstream, List<T> Items)> Lists, JsonObject? Meta)> MergeAsync<T>(ProfileModel profile, string sessionId,
        Func<ServerCapabilities, bool> offers, Func<McpClient, CancellationToken, Task<List<T>>> list, CancellationToken ct)
    {
        // One known (from its last start) not to offer the feature is not started to list it; one never started is.
        var asked = Upstreams(profile).Where(u => registry.KnownCapabilities(u.Name, sessionId) is not { } known || offers(known)).ToList();
        var answers = await Task.WhenAll(asked.Select(async upstream =>
        {
            var state = registry.Snapshot(upstream.Name, sessionId);
            if (state.State != "running" && state.Failing)
            {
                return (Upstream: upstream, Items: new List<T>(), Error: (string?)state.DescribeFailure());
            }

            // The wait for an upstream that is not running is counted from the first list that waited for it, however
            // many lists wait: a server that hangs at initialize costs one bounded wait, not one per request.
            long since = 0;
            if (state.State == "running")
            {
                _waitingSince.TryRemove(upstream.Name, out _);
            }
            else
            {
                since = _waitingSince.GetOrAdd(upstream.Name, Environment.TickCount64);
            }

            var ask = OnAsync(upstream, sessionId, async (client, token) => offers(client.ServerCapabilities) ? await list(client, token) : [], ct);
            try
            {
                var items = since == 0 ? await ask
                    : await ask.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(0, since + (long)Catalog.ToolCatalog.FirstListingWait.TotalMilliseconds - Environment.TickCount64)), ct);
                _waitingSince.TryRemove(upstream.Name, out _);
                return (Upstream: upstream, Items: items, Error: (string?)null);
            }
            catch (TimeoutException)
            {
                _ = ask.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                return (Upstream: upstream, Items: new List<T>(), Error: (string?)$"upstream '{upstream.Name}' is starting; it is left out of this list");
            }
            catch (McpProtocolException ex)
            {
                return (Upstream: upstream, Items: new List<T>(), Error: ex.Message);
            }
        }));
        var failed = answers.Where(a => a.Error is not null).ToList();
        var meta = failed.Count == 0 ? null : new JsonObject
        {
            [FacadeText.UnavailableKey] = new JsonArray([.. failed.Select(f => (JsonNode)new JsonObject { ["upstream"] = f.Upstream.Name, ["error"] = f.Error })]),
        };
        return ([.. answers.Where(a => a.Error is null).Select(a => (a.Upstream, a.Items))], meta);
    }

    private static McpProtocolException Failure(BrokerError error) =>
        new($"{error.Message}{(error.Hint.Length > 0 ? $"; {error.Hint}" : "")}", McpErrorCode.InternalError);
}
