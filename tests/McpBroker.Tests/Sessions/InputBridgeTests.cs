using System.Text.Json.Nodes;
using McpBroker.Sessions;
using McpBroker.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// The bridge's bounds, on a clock that moves only when told: a parked call whose retry never comes is ended after the
/// answer timeout (the upstream's question fails saying why, its call is cancelled), and no more than the maximum wait at once.
/// </summary>
public sealed class InputBridgeTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    /// <summary>An upstream call that asks the client once and returns what it was told (or what went wrong, and whether it was cancelled).</summary>
    private static Func<BridgedServer, CancellationToken, Task<string>> AskingOnce(TaskCompletionSource<CancellationToken>? token = null) => async (server, ct) =>
    {
        token?.TrySetResult(ct);
        try
        {
            var answer = await server.SendRequestAsync(new JsonRpcRequest { Method = "elicitation/create", Params = new JsonObject { ["message"] = "name?" } }, ct);
            return $"told {answer.Result!["content"]!["name"]}";
        }
        catch (McpProtocolException ex)
        {
            return $"failed: {ex.Message}";
        }
    };

    [Fact]
    public async Task RetryThatNeverComes_AfterTheAnswerTimeout_FailsTheUpstreamsQuestionAndCancelsItsCall()
    {
        var time = new ManualTime();
        var bridge = new InputBridge(time, s_timeout);
        var token = new TaskCompletionSource<CancellationToken>();
        var first = await Assert.ThrowsAsync<InputRequiredException>(() => bridge.StartAsync("raw\ntools/call\nt", null!, null, AskingOnce(token), CancellationToken.None));
        var state = first.Result.RequestState!;
        Assert.Equal("elicitation/create", Assert.Single(first.Result.InputRequests!).Value.Method);
        Assert.Equal(1, bridge.Parked);
        var callToken = await token.Task;

        time.Advance(s_timeout - TimeSpan.FromSeconds(1));
        Assert.False(callToken.IsCancellationRequested);
        Assert.Equal(1, bridge.Parked);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(callToken.IsCancellationRequested);
        Assert.Equal(0, bridge.Parked);

        var late = await Assert.ThrowsAsync<McpProtocolException>(() => bridge.ResumeAsync<string>("raw\ntools/call\nt", state, null, null!, CancellationToken.None));
        Assert.Contains("requestState is unknown or has expired (mcp-broker keeps an unanswered input_required for 2 min)", late.Message);
    }

    [Fact]
    public async Task Retry_AnswersTheUpstreamsQuestion_OnlyForTheOwnerThatParkedIt()
    {
        var bridge = new InputBridge(new ManualTime(), s_timeout);
        var first = await Assert.ThrowsAsync<InputRequiredException>(() => bridge.StartAsync("raw\ntools/call\nt", null!, null, AskingOnce(), CancellationToken.None));
        var (key, _) = Assert.Single(first.Result.InputRequests!);

        var foreign = await Assert.ThrowsAsync<McpProtocolException>(() => bridge.ResumeAsync<string>("other\ntools/call\nt", first.Result.RequestState!, null, null!, CancellationToken.None));
        Assert.Contains("unknown or has expired", foreign.Message);

        var answer = InputResponse.FromElicitResult(new ElicitResult { Action = "accept", Content = new Dictionary<string, System.Text.Json.JsonElement>
        {
            ["name"] = System.Text.Json.JsonSerializer.SerializeToElement("ada"),
        } });
        Assert.Equal("told ada", await bridge.ResumeAsync<string>("raw\ntools/call\nt", first.Result.RequestState!, new Dictionary<string, InputResponse> { [key] = answer }, null!, CancellationToken.None));
        Assert.Equal(0, bridge.Parked);
    }

    [Fact]
    public async Task RetryWithoutTheAnswer_FailsTheUpstreamsQuestionNamingTheMissingKey()
    {
        var bridge = new InputBridge(new ManualTime(), s_timeout);
        var first = await Assert.ThrowsAsync<InputRequiredException>(() => bridge.StartAsync("o", null!, null, AskingOnce(), CancellationToken.None));
        var key = Assert.Single(first.Result.InputRequests!).Key;
        Assert.Equal($"failed: the client's retry had no inputResponses entry '{key}'",
            await bridge.ResumeAsync<string>("o", first.Result.RequestState!, new Dictionary<string, InputResponse>(), null!, CancellationToken.None));
    }

    [Fact]
    public async Task MoreCallsWaitingThanTheMaximum_TheNextUpstreamQuestionIsRefusedSayingWhy()
    {
        var bridge = new InputBridge(new ManualTime(), s_timeout, maxParked: 1);
        await Assert.ThrowsAsync<InputRequiredException>(() => bridge.StartAsync("o", null!, null, AskingOnce(), CancellationToken.None));
        Assert.Equal("failed: mcp-broker could not get the client's answer: mcp-broker has 1 requests waiting for their clients' answers already; try again when some are answered",
            await bridge.StartAsync("o", null!, null, AskingOnce(), CancellationToken.None));
        Assert.Equal(1, bridge.Parked);
    }

    [Fact]
    public async Task ClientCancellingTheRequest_BeforeTheUpstreamAsks_CancelsTheUpstreamCall()
    {
        var bridge = new InputBridge(new ManualTime(), s_timeout);
        var token = new TaskCompletionSource<CancellationToken>();
        using var cancel = new CancellationTokenSource();
        var round = bridge.StartAsync<string>("o", null!, null, async (_, ct) =>
        {
            token.TrySetResult(ct);
            await new TaskCompletionSource().Task.WaitAsync(ct);
            return "never";
        }, cancel.Token);

        var callToken = await token.Task;
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => round);
        Assert.True(callToken.IsCancellationRequested);
    }

    [Fact]
    public async Task AQuestionAfterTheCallWasAnswered_IsRefusedAtOnce_NotLeftWaiting()
    {
        var bridge = new InputBridge(new ManualTime(), s_timeout);
        BridgedServer? client = null;
        Assert.Equal("done", await bridge.StartAsync<string>("o", null!, null, (server, _) =>
        {
            client = server;
            return Task.FromResult("done");
        }, CancellationToken.None));

        var late = await Assert.ThrowsAsync<McpProtocolException>(() => client!.SendRequestAsync(new JsonRpcRequest { Method = "sampling/createMessage" }));
        Assert.Contains("cannot forward sampling/createMessage: the client's call has been answered", late.Message);
    }
}
