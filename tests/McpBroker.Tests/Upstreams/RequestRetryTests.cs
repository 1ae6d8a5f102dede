using System.Net;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>
/// The retry policy of one request without any server: which HTTP answers are retried, how often and after what wait,
/// when an expired HTTP session is renewed, and what a request that gives up says. (The request path that carries these
/// decisions out against real servers: <see cref="RemoteUpstreamJourneyTests"/>.)
/// </summary>
public sealed class RequestRetryTests
{
    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.GatewayTimeout)]
    public void RetryableStatus_OverloadOrServerFailure_IsTheStatus_AlsoWhenWrappedInAnotherException(HttpStatusCode status)
    {
        var answer = new HttpRequestException("failed", null, status);

        Assert.Equal(status, RequestRetry.RetryableStatus(answer));
        Assert.Equal(status, RequestRetry.RetryableStatus(new InvalidOperationException("sending failed", answer)));
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.NotImplemented)]
    public void RetryableStatus_AnAnswerThatWouldNotChange_IsNull(HttpStatusCode status) =>
        Assert.Null(RequestRetry.RetryableStatus(new HttpRequestException("failed", null, status)));

    [Fact]
    public void RetryableStatus_NoHttpAnswerAtAll_IsNull()
    {
        Assert.Null(RequestRetry.RetryableStatus(new HttpRequestException("connection refused")));
        Assert.Null(RequestRetry.RetryableStatus(new IOException("broken pipe")));
    }

    [Fact]
    public void AfterHttpStatus_Retryable_RetriesThreeTimesWithADoublingBackoff_ThenGivesUpSayingHowOften()
    {
        var retry = new RequestRetry("api", retryable: true);

        var steps = Enumerable.Range(1, 3).Select(attempt => retry.AfterHttpStatus(HttpStatusCode.ServiceUnavailable, attempt)).ToList();
        var last = retry.AfterHttpStatus(HttpStatusCode.ServiceUnavailable, 4);

        Assert.All(steps, s => Assert.Equal((RetryAction.Retry, (BrokerError?)null), (s.Action, s.Error)));
        Assert.Equal([TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1000)], steps.Select(s => s.Delay));
        Assert.Equal(RetryAction.GiveUp, last.Action);
        Assert.Equal("upstream_error", last.Error!.CodeName);
        Assert.Equal("upstream 'api' answered HTTP 503 (ServiceUnavailable) 4 times in a row", last.Error.Message);
        Assert.Equal("the server is overloaded or failing; retry later", last.Error.Hint);
    }

    [Fact]
    public void AfterHttpStatus_NotRetryable_GivesUpAtOnce_AndSaysHowToLetTheBrokerRetry()
    {
        var step = new RequestRetry("api", retryable: false).AfterHttpStatus(HttpStatusCode.TooManyRequests, 1);

        Assert.Equal(RetryAction.GiveUp, step.Action);
        Assert.Equal("upstream 'api' answered HTTP 429 (TooManyRequests); the call was not retried because the tool is not marked idempotent", step.Error!.Message);
        Assert.Contains("upstreams.api.tools.TOOL.idempotent: true", step.Error.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AfterSessionExpired_ItsOwn404_RenewsTheSessionOnce_EvenWhenNotRetryable_AndASecondIsTheUpstreamsFailure(bool retryable)
    {
        var retry = new RequestRetry("api", retryable);

        Assert.Equal(RetryAction.RenewSession, retry.AfterSessionExpired(ownExpiry: true).Action);
        Assert.Equal(RetryAction.RenewedSessionForgotten, retry.AfterSessionExpired(ownExpiry: true).Action);
    }

    [Fact]
    public void AfterSessionExpired_UnderARequestInFlight_RenewsOnlyWhenItIsSafeToRepeat()
    {
        var safe = new RequestRetry("api", retryable: true);
        var unsafeCall = new RequestRetry("api", retryable: false);

        Assert.Equal(RetryAction.RenewSession, safe.AfterSessionExpired(ownExpiry: false).Action);
        Assert.Equal(RetryAction.RenewedSessionForgotten, safe.AfterSessionExpired(ownExpiry: false).Action);
        Assert.Equal(RetryAction.Report, unsafeCall.AfterSessionExpired(ownExpiry: false).Action); // it may have run: reported as a lost connection
    }
}
