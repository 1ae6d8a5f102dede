using System.Text.Json.Serialization;

namespace McpBroker.Sessions;

/// <summary>
/// The first line a connection sends: who it is and which profile it wants (<c>control</c> set for CLI requests
/// such as stop). After the daemon's one-line answer the connection carries plain MCP.
/// </summary>
public sealed record HelloMessage
{
    [JsonPropertyName("mcp_broker")]
    public int Version { get; init; }

    public string? Profile { get; init; }

    public string? Session { get; init; }

    public string? Client { get; init; }

    public string? Cwd { get; init; }

    public int? Pid { get; init; }

    public string? Control { get; init; }

    /// <summary>The content of the profile's token file, for profiles with <c>require_token_file</c>. Never logged.</summary>
    public string? Token { get; init; }

    /// <summary>The upstream a control request is about (<c>restart</c>, <c>approve</c>).</summary>
    public string? Upstream { get; init; }

    /// <summary><c>raw</c>: serve the profile's raw view whatever its compact setting and budget (mcp-broker measure's "before").</summary>
    public string? View { get; init; }

    /// <summary>The tool an <c>approve</c> request is about; null for all of the upstream's tools.</summary>
    public string? Tool { get; init; }
}

public sealed record HelloError(string Code, string Message);

public sealed record WelcomeMessage
{
    [JsonPropertyName("mcp_broker")]
    public int Version { get; init; } = 1;

    public bool Ok { get; init; }

    public string? Session { get; init; }

    public int? DaemonPid { get; init; }

    public HelloError? Error { get; init; }

    /// <summary>A session's welcome: the longest message the session takes (broker.max_message_bytes), which the shim holds both directions to.</summary>
    public int? MaxMessageBytes { get; init; }

    /// <summary>What a control request did, in words.</summary>
    public string? Message { get; init; }

    /// <summary>The answer to a <c>status</c> request (see DaemonStatus).</summary>
    public System.Text.Json.Nodes.JsonObject? Status { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HelloMessage))]
[JsonSerializable(typeof(WelcomeMessage))]
internal sealed partial class HelloJsonContext : JsonSerializerContext;
