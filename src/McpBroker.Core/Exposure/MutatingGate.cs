using McpBroker.Config;
using ModelContextProtocol.Protocol;

namespace McpBroker.Exposure;

/// <summary>
/// Which tools change things, and which profiles may use those. A tool's own override wins; then the upstream's
/// <c>mutating</c> setting; with <c>auto</c> only <c>readOnlyHint: true</c> is read-only, because the spec's
/// defaults (readOnlyHint false, destructiveHint true) describe a tool that says nothing as one that may destroy.
/// </summary>
internal static class MutatingGate
{
    public static bool IsMutating(UpstreamModel upstream, Tool tool) =>
        upstream.ToolOverrides.GetValueOrDefault(tool.Name)?.Mutating ?? upstream.Mutating switch
        {
            MutatingSetting.True => true,
            MutatingSetting.False => false,
            _ => tool.Annotations?.ReadOnlyHint != true,
        };

    public static bool Allows(ProfileModel profile, UpstreamModel upstream, string canonicalName) =>
        Globs.Any(profile.AllowMutatingUpstreams, upstream.Name) || Globs.Any(profile.AllowMutatingTools, canonicalName);
}
