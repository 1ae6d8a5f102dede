using McpBroker.Config;

namespace McpBroker.Exposure;

/// <summary>
/// How one profile names the resources and prompts of its upstreams. A resource URI becomes
/// <c>mcp-broker://PREFIX/</c> followed by the upstream's URI as it is (so a template's variables stay where a client
/// fills them in, and the way back is a prefix cut); a prompt is <c>PREFIX.name</c> (or <c>PREFIX__name</c> in the
/// snake style). A transparent profile renames nothing.
/// </summary>
internal static class ResourceNames
{
    public const string Scheme = "mcp-broker://";

    public static string Expose(ProfileModel profile, UpstreamModel upstream, string uri) =>
        profile.Transparent ? uri : $"{Scheme}{upstream.Prefix}/{uri}";

    /// <summary>The upstream and its own URI for an exposed URI (or URI template), or null when no upstream of the profile has it.</summary>
    public static (UpstreamModel Upstream, string Uri)? Resolve(ProfileModel profile, IReadOnlyList<UpstreamModel> upstreams, string exposed)
    {
        if (profile.Transparent)
        {
            return upstreams is [var only] ? (only, exposed) : null;
        }

        if (!exposed.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return null;
        }

        var slash = exposed.IndexOf('/', Scheme.Length);
        if (slash < 0)
        {
            return null;
        }

        var prefix = exposed[Scheme.Length..slash];
        return upstreams.FirstOrDefault(u => u.Prefix == prefix) is { } upstream ? (upstream, exposed[(slash + 1)..]) : null;
    }

    /// <summary>Renames the resource URIs inside content (resource links, embedded resources) so they can be read back.</summary>
    public static void ExposeIn(ProfileModel profile, UpstreamModel upstream, IEnumerable<ModelContextProtocol.Protocol.ContentBlock> content)
    {
        if (profile.Transparent)
        {
            return;
        }

        foreach (var block in content)
        {
            switch (block)
            {
                case ModelContextProtocol.Protocol.ResourceLinkBlock link:
                    link.Uri = Expose(profile, upstream, link.Uri);
                    break;
                case ModelContextProtocol.Protocol.EmbeddedResourceBlock embedded:
                    embedded.Resource.Uri = Expose(profile, upstream, embedded.Resource.Uri);
                    break;
            }
        }
    }

    public static string ExposePrompt(ProfileModel profile, UpstreamModel upstream, string name) =>
        profile.Transparent ? name : $"{upstream.Prefix}{Separator(profile)}{name}";

    public static (UpstreamModel Upstream, string Name)? ResolvePrompt(ProfileModel profile, IReadOnlyList<UpstreamModel> upstreams, string exposed)
    {
        if (profile.Transparent)
        {
            return upstreams is [var only] ? (only, exposed) : null;
        }

        var separator = Separator(profile);
        return upstreams.Where(u => exposed.StartsWith(u.Prefix + separator, StringComparison.Ordinal)).MaxBy(u => u.Prefix.Length) is { } upstream
            ? (upstream, exposed[(upstream.Prefix.Length + separator.Length)..])
            : null;
    }

    private static string Separator(ProfileModel profile) => profile.NameStyle == ToolNameStyle.Snake ? "__" : ".";
}
