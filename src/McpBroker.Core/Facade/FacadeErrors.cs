using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// The failures of the facade's paths, as the <see cref="BrokerError"/> values they travel as, and the one place such a
/// value becomes what a client reads (<see cref="ErrorResult"/>: a tool result with <c>isError</c> and a structured body).
/// </summary>
internal static class FacadeErrors
{
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

    /// <summary>A bug must not surface as the SDK's bare "An error occurred": keep the error shape clients parse.</summary>
    public static BrokerError Failed(string tool, Exception ex) => new(BrokerErrorCode.Internal, $"the broker failed while handling '{tool}': {ex.GetType().Name}",
        "retry; if it persists, the daemon log ({runtime.root}/logs/daemon.log) has details");

    public static BrokerError Invalid(string message) => new(BrokerErrorCode.InvalidArguments, message, "see the tool's input schema in tools/list");

    /// <summary>A compact profile asked for a name that is not one of its broker tools.</summary>
    public static BrokerError NotABrokerTool(ProfileModel profile, string name) => new(BrokerErrorCode.UnknownTool, $"'{name}' is not a broker tool",
        $"call upstream tools through {ToolNames.BrokerTool(FacadeTools.Call, profile.NameStyle)} with the name {ToolNames.BrokerTool(FacadeTools.Search, profile.NameStyle)} returned");

    /// <summary>A tool the profile withholds: what would let the call through, for the user to decide.</summary>
    public static BrokerError Refusal(ProfileModel profile, ExposedTool tool, Withheld why, string? reason) => why == Withheld.Mutating
        ? new BrokerError(BrokerErrorCode.MutatingNotAllowed,
            $"'{tool.ExposedName}' may change things, and profile '{profile.Name}' does not allow mutating tools of upstream '{tool.Upstream.Name}'",
            $"ask the user to allow it: profiles.{profile.Name}.allow_mutating_tools: [{tool.CanonicalName}] (or allow_mutating_upstreams: [{tool.Upstream.Name}])")
        : new BrokerError(BrokerErrorCode.ToolQuarantined,
            $"'{tool.ExposedName}' is quarantined: {reason}",
            $"ask the user to review it and run: mcp-broker tools approve {tool.Upstream.Name} {tool.Tool.Name}");
}
