namespace McpBroker.Upstreams;

/// <summary>What status shows for one upstream instance: a snapshot of its live state.</summary>
public sealed record UpstreamState(
    string Name,
    string State,
    int? Pid,
    int Sessions,
    int InFlight,
    int Restarts,
    int ConsecutiveFailures,
    string? LastError,
    DateTimeOffset? RetryAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? LastUsedAt,
    string? Protocol = null,
    string? CeilingRestart = null,
    long? MemoryBytes = null,
    double? CpuPercent = null)
{
    /// <summary>Failed since its last success (a failed start, a crash, a hang), or waiting out a backoff or an open circuit.</summary>
    public bool Failing => ConsecutiveFailures > 0 || State is "backoff" or "circuit_open";

    /// <summary>The failure in words, for a list or search that leaves the upstream out.</summary>
    public string DescribeFailure() => $"upstream '{Name}' is {State.Replace('_', ' ')} after {ConsecutiveFailures} failure(s)"
        + (RetryAt is { } at ? $", retried at {at:HH:mm:ss} UTC" : "") + $"; last error: {LastError}";
}

/// <summary>Why an upstream's tools may differ from what the catalog holds.</summary>
internal enum ToolsChange
{
    /// <summary>A new instance started: it may serve other tools than the last one (or than the disk cache).</summary>
    Started,

    /// <summary>The upstream sent notifications/tools/list_changed.</summary>
    ListChanged,
}
