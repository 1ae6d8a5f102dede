using McpBroker.Config;

namespace McpBroker.Upstreams;

/// <summary>What a failure leaves an upstream as (see <see cref="RestartCircuit"/>).</summary>
internal enum RestartDecision
{
    /// <summary>The next request may start it at once (after its first failure in a row).</summary>
    AtOnce,

    /// <summary>No start before <see cref="RestartCircuit.RetryAt"/>: the backoff, doubling from <c>restart.backoff</c> up to <c>restart.max_backoff</c>.</summary>
    Backoff,

    /// <summary><c>restart.max_attempts</c> failures in a row: no start before the cooldown has passed.</summary>
    CircuitOpen,
}

/// <summary>
/// The restart policy of one upstream as a state of its own: failures in a row, the last error, and when the next start
/// may happen. No locks and no I/O (its owner calls it under its own lock); time comes from the
/// <see cref="TimeProvider"/>, so the policy is tested with a fake clock.
/// </summary>
internal sealed class RestartCircuit(RestartPolicy policy, TimeProvider time)
{
    /// <summary>Failures since the last success (a failed start, a crash, a hang).</summary>
    public int Failures { get; private set; }

    /// <summary>Why it last failed; kept after a success, for status.</summary>
    public string? LastError { get; private set; }

    /// <summary>No start before this time; null when one may happen now (or after the next failure decides).</summary>
    public DateTimeOffset? RetryAt { get; private set; }

    /// <summary>Counts a failure and decides when the next start may happen.</summary>
    public RestartDecision RecordFailure(string reason)
    {
        Failures++;
        LastError = reason;
        var now = time.GetUtcNow();
        if (Failures >= policy.MaxAttempts)
        {
            RetryAt = now + policy.Cooldown;
            return RestartDecision.CircuitOpen;
        }

        var delay = policy.DelayAfter(Failures);
        RetryAt = delay > TimeSpan.Zero ? now + delay : null;
        return delay > TimeSpan.Zero ? RestartDecision.Backoff : RestartDecision.AtOnce;
    }

    /// <summary>A request succeeded (or an operator closed the circuit): failures are forgotten, a start may happen now.</summary>
    public void Reset()
    {
        Failures = 0;
        RetryAt = null;
    }

    /// <summary>Until when a start must wait; null when it may happen now.</summary>
    public DateTimeOffset? WaitingUntil() => RetryAt is { } at && time.GetUtcNow() < at ? at : null;
}
