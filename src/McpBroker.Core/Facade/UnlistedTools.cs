using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// A compact profile's way to resources and prompts (see <see cref="FacadeTools.Unlisted"/>): broker tools that are not
/// listed, run through <see cref="BrokerResources"/>, with names as a raw profile shows them.
/// </summary>
internal sealed class UnlistedTools(BrokerResources resources)
{
    public async Task<Outcome<CallToolResult>> CallAsync(ProfileModel profile, string sessionId, string tool, IDictionary<string, JsonElement> args, CancellationToken ct)
    {
        var upstream = args.TryGetValue("upstream", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        if (upstream is not null && !profile.Upstreams.Contains(upstream, StringComparer.Ordinal))
        {
            return FacadeErrors.Invalid($"'upstream' must be one of this profile's upstreams: {string.Join(", ", profile.Upstreams)}");
        }

        var only = upstream is null ? profile : profile with { Upstreams = [upstream] };
        try
        {
            return tool switch
            {
                FacadeTools.ListResources => await ListResourcesAsync(only, sessionId, ct),
                FacadeTools.ReadResource => await ReadResourceAsync(profile, sessionId, args, ct),
                FacadeTools.ListPrompts => await ListPromptsAsync(only, sessionId, ct),
                _ => await GetPromptAsync(profile, sessionId, args, ct),
            };
        }
        catch (McpProtocolException ex)
        {
            return new BrokerError(ex.ErrorCode is McpErrorCode.ResourceNotFound or McpErrorCode.InvalidParams ? BrokerErrorCode.InvalidArguments : BrokerErrorCode.UpstreamError,
                ex.Message, tool is FacadeTools.ReadResource or FacadeTools.GetPrompt
                    ? $"use a name exactly as {ToolNames.BrokerTool(tool == FacadeTools.ReadResource ? FacadeTools.ListResources : FacadeTools.ListPrompts, profile.NameStyle)} gave it"
                    : "'broker.status' shows the upstreams' state");
        }
    }

    private async Task<Outcome<CallToolResult>> ListResourcesAsync(ProfileModel only, string sessionId, CancellationToken ct)
    {
        var listed = await resources.ListResourcesAsync(only, sessionId, null, ct);
        var templates = await resources.ListResourceTemplatesAsync(only, sessionId, null, ct);
        return FacadeText.Text(new JsonObject
        {
            ["resources"] = new JsonArray([.. listed.Resources.Select(r => (JsonNode)new JsonObject
            {
                ["uri"] = r.Uri, ["name"] = r.Name, ["description"] = FacadeText.OneLine(r.Description), ["mimeType"] = r.MimeType,
            })]),
            ["templates"] = new JsonArray([.. templates.ResourceTemplates.Select(t => (JsonNode)new JsonObject
            {
                ["uriTemplate"] = t.UriTemplate, ["name"] = t.Name, ["description"] = FacadeText.OneLine(t.Description),
            })]),
            ["unavailable"] = listed.Meta?[FacadeText.UnavailableKey]?.DeepClone(),
        });
    }

    private async Task<Outcome<CallToolResult>> ReadResourceAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args, CancellationToken ct)
    {
        if (!FacadeText.TryGetString(args, "uri", out var uri))
        {
            return FacadeErrors.Invalid("'uri' must be a resource URI as list_resources gave it");
        }

        var read = await resources.ReadResourceAsync(profile, sessionId, new ReadResourceRequestParams { Uri = uri }, ct);
        return new CallToolResult { Content = [.. read.Contents.Select(c => (ContentBlock)new EmbeddedResourceBlock { Resource = c })] };
    }

    private async Task<Outcome<CallToolResult>> ListPromptsAsync(ProfileModel only, string sessionId, CancellationToken ct)
    {
        var prompts = await resources.ListPromptsAsync(only, sessionId, null, ct);
        return FacadeText.Text(new JsonObject
        {
            ["prompts"] = new JsonArray([.. prompts.Prompts.Select(p => (JsonNode)new JsonObject
            {
                ["name"] = p.Name, ["description"] = FacadeText.OneLine(p.Description),
                ["arguments"] = new JsonArray([.. (p.Arguments ?? []).Select(a => (JsonNode)new JsonObject { ["name"] = a.Name, ["required"] = a.Required == true })]),
            })]),
            ["unavailable"] = prompts.Meta?[FacadeText.UnavailableKey]?.DeepClone(),
        });
    }

    private async Task<Outcome<CallToolResult>> GetPromptAsync(ProfileModel profile, string sessionId, IDictionary<string, JsonElement> args, CancellationToken ct)
    {
        if (!FacadeText.TryGetString(args, "name", out var prompt))
        {
            return FacadeErrors.Invalid("'name' must be a prompt name as list_prompts gave it");
        }

        var values = FacadeText.ObjectArgument(args, "arguments");
        var got = await resources.GetPromptAsync(profile, sessionId, new GetPromptRequestParams { Name = prompt, Arguments = values }, ct);
        return FacadeText.Text(JsonSerializer.SerializeToNode(got, McpJsonUtilities.DefaultOptions.GetTypeInfo<GetPromptResult>())!);
    }
}
