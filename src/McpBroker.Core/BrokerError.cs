namespace McpBroker;

/// <summary>Why a broker operation failed. The snake_case form is what clients read in error results.</summary>
public enum BrokerErrorCode
{
    UnknownTool,
    InvalidArguments,
    UpstreamUnavailable,
    UpstreamCrashed,
    UpstreamTimeout,
    UpstreamError,
    UpstreamBusy,
    OverBudget,
    MutatingNotAllowed,
    ToolQuarantined,
    Cancelled,
    Internal,
}

/// <summary>A failure on the call path, as a value: mapped to an MCP result at one boundary (the facade).</summary>
public sealed record BrokerError(BrokerErrorCode Code, string Message, string Hint)
{
    public string CodeName => Code switch
    {
        BrokerErrorCode.UnknownTool => "unknown_tool",
        BrokerErrorCode.InvalidArguments => "invalid_arguments",
        BrokerErrorCode.UpstreamUnavailable => "upstream_unavailable",
        BrokerErrorCode.UpstreamCrashed => "upstream_crashed",
        BrokerErrorCode.UpstreamTimeout => "upstream_timeout",
        BrokerErrorCode.UpstreamError => "upstream_error",
        BrokerErrorCode.UpstreamBusy => "upstream_busy",
        BrokerErrorCode.OverBudget => "over_budget",
        BrokerErrorCode.MutatingNotAllowed => "mutating_not_allowed",
        BrokerErrorCode.ToolQuarantined => "tool_quarantined",
        BrokerErrorCode.Cancelled => "cancelled",
        _ => "internal_error",
    };
}

/// <summary>Either a value or a <see cref="BrokerError"/>.</summary>
public readonly record struct Outcome<T>(T? Value, BrokerError? Error)
{
    public bool Ok => Error is null;

    public static implicit operator Outcome<T>(T value) => new(value, null);

    public static implicit operator Outcome<T>(BrokerError error) => new(default, error);
}
