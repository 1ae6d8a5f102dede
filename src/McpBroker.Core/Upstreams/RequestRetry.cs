using System.Net;

namespace McpBroker.Upstreams;

/// <summary>What the request path does after a failure (see <see cref="RequestRetry"/>).</summary>
internal enum RetryAction
{
    /// <summary>Not the policy's to retry: the failure is reported as what it is (a crash, a lost connection, a timeout).</summary>
    Report,

    /// <summary>Wait <see cref="RetryStep.Delay"/>, then send the request again (on a new connection if this one ended meanwhile).</summary>
    Retry,

    /// <summary>The server forgot the HTTP session: start a new one and send the request again.</summary>
    RenewSession,

    /// <summary>The request failed for good: answer with <see cref="RetryStep.Error"/>.</summary>
    GiveUp,

    /// <summary>The new session was forgotten at once too: a failure of the upstream (counted towards its circuit).</summary>
    RenewedSessionForgotten,
}

/// <summary>One decision of <see cref="RequestRetry"/>: the action, the wait before a retry, the error when it gives up.</summary>
internal readonly record struct RetryStep(RetryAction Action, TimeSpan Delay = default, BrokerError? Error = null);

/// <summary>
/// When a failed request to an upstream is sent again. An http/sse upstream's HTTP 429/5xx answer is retried with a
/// doubling backoff, at most <see cref="RemoteFailure.Retries"/> times, and only when the request is
/// <paramref name="retryable"/> (a read, or a tool marked idempotent: one that ran must be safe to run again). An HTTP
/// session the server forgot is renewed once: always when this request got the 404 itself (it never ran), otherwise
/// only when it is retryable (it was in flight when another request's 404 ended the session, so it may have run).
/// A policy and no more: no I/O and no clock (the backoff depends on the attempt alone; its owner waits on its
/// <see cref="TimeProvider"/>), one instance per request.
/// </summary>
/// <param name="upstream">The upstream's name, for the messages.</param>
internal sealed class RequestRetry(string upstream, bool retryable)
{
    private bool _renewed;

    /// <summary>The status of an HTTP answer worth retrying (429, 500, 502, 503, 504) that <paramref name="ex"/> carries; null for any other failure.</summary>
    public static HttpStatusCode? RetryableStatus(Exception ex) =>
        RemoteFailure.StatusCode(ex) is { } status && RemoteFailure.Retryable(status) ? status : null;

    /// <summary>After attempt number <paramref name="attempt"/> (from 1) was answered with <paramref name="status"/> (see <see cref="RetryableStatus"/>).</summary>
    public RetryStep AfterHttpStatus(HttpStatusCode status, int attempt)
    {
        if (!retryable || attempt > RemoteFailure.Retries)
        {
            return new(RetryAction.GiveUp, Error: new BrokerError(BrokerErrorCode.UpstreamError,
                $"upstream '{upstream}' answered HTTP {(int)status} ({status})" + (retryable ? $" {attempt} times in a row" : "; the call was not retried because the tool is not marked idempotent"),
                retryable ? "the server is overloaded or failing; retry later" : $"retry if the call is safe to repeat; mark it with upstreams.{upstream}.tools.TOOL.idempotent: true to let the broker retry"));
        }

        return new(RetryAction.Retry, RemoteFailure.Backoff(attempt));
    }

    /// <summary>
    /// After the server forgot the HTTP session the request ran on: <paramref name="ownExpiry"/> when this request's own
    /// answer was the HTTP 404, false when the session ended under it (another request got the 404).
    /// </summary>
    public RetryStep AfterSessionExpired(bool ownExpiry)
    {
        if (!_renewed && (ownExpiry || retryable))
        {
            _renewed = true;
            return new(RetryAction.RenewSession);
        }

        return new(_renewed ? RetryAction.RenewedSessionForgotten : RetryAction.Report);
    }
}
