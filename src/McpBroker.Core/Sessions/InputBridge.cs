using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// The bridge between the eras for server-to-client requests: a 2026-07-28 client is never sent a request, it is
/// answered <c>input_required</c> and retries (MCP 2026-07-28, "Multi Round-Trip Requests", SEP-2322: a server that needs
/// elicitation, sampling or roots returns <c>resultType: "input_required"</c> with <c>inputRequests</c> and an opaque
/// <c>requestState</c>; the client retries the same request with <c>inputResponses</c> and that <c>requestState</c>).
/// An upstream of the session era asks with a real request (<c>elicitation/create</c>, <c>sampling/createMessage</c>,
/// <c>roots/list</c>) in the middle of its call; the broker keeps that upstream call running, parks it here under a
/// <c>requestState</c> it issues (random, carrying nothing of the upstream), answers the client <c>input_required</c>, and
/// when the retry brings the answer hands it to the upstream's pending request and waits for the next outcome.
/// </summary>
/// <remarks>
/// Parked calls are bounded: at most <see cref="MaxParked"/> at once (another one is refused: the upstream's request is
/// answered with an error saying why), each for at most <see cref="AnswerTimeout"/> (the retry that never comes: the
/// upstream's pending request is answered with an error and its call is cancelled, so the upstream sees
/// <c>notifications/cancelled</c>). A <c>requestState</c> is good for one retry, by the profile and the method and name
/// that parked it; anything else is refused as unknown. Per-request state lives here rather than in the SDK's own MRTR
/// continuations because a 2026-07-28 HTTP client has no session (each request its own server) and the SDK keeps
/// continuations per session, unbounded in time.
/// </remarks>
internal sealed class InputBridge(TimeProvider time, TimeSpan? answerTimeout = null, int maxParked = InputBridge.MaxParked)
{
    /// <summary>How long a parked call waits for the client's retry (the time a user has to answer a form).</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromMinutes(10);

    /// <summary>How many calls may wait for a retry at once, over every session.</summary>
    public const int MaxParked = 256;

    private readonly TimeSpan _answerTimeout = answerTimeout ?? AnswerTimeout;
    private readonly ConcurrentDictionary<string, BridgedCall> _parked = new(StringComparer.Ordinal);

    /// <summary>Calls waiting for a retry now.</summary>
    public int Parked => _parked.Count;

    /// <summary>Whether a request is of the stateless era (2026-07-28 or later), whose client expects <c>input_required</c>.</summary>
    public static bool Applies(string? protocolVersion) =>
        protocolVersion is { Length: 10 } v && Upstreams.ProtocolMemory.IsStateless(v);

    /// <summary>
    /// Starts <paramref name="work"/> (the upstream call, with the bridged call to route its server-to-client requests to)
    /// detached from the request, and serves its first round.
    /// </summary>
    /// <param name="request">The server of the client's request.</param>
    /// <param name="declared">The capabilities the client declared with the request.</param>
    public Task<T> StartAsync<T>(string owner, McpServer request, ClientCapabilities? declared, Func<BridgedServer, CancellationToken, Task<T>> work,
        CancellationToken requestCt) where T : class
    {
        var call = new BridgedCall(owner);
        var server = new BridgedServer(request, declared, call);
        call.Server = server;
        call.Start(async token => await work(server, token));
        return RoundAsync<T>(call, requestCt);
    }

    /// <summary>
    /// A retry: the call parked under <paramref name="requestState"/> (by <paramref name="owner"/>) is given the client's
    /// answers and served its next round. Unknown, expired or foreign state is refused saying so.
    /// </summary>
    public Task<T> ResumeAsync<T>(string owner, string requestState, IDictionary<string, InputResponse>? responses, McpServer retry, CancellationToken requestCt)
        where T : class
    {
        if (!_parked.TryGetValue(requestState, out var call) || call.Owner != owner || !_parked.TryRemove(new(requestState, call)))
        {
            throw new McpProtocolException(
                $"requestState is unknown or has expired (mcp-broker keeps an unanswered input_required for {Describe(_answerTimeout)}): send the request again without requestState and inputResponses",
                McpErrorCode.InvalidParams);
        }

        call.Server?.Follow(retry);
        call.Answer(responses);
        return RoundAsync<T>(call, requestCt);
    }

    /// <summary>Waits for the call's result, or for its next question to the client, which parks it.</summary>
    private async Task<T> RoundAsync<T>(BridgedCall call, CancellationToken requestCt) where T : class
    {
        // While the client waits on this request, its cancellation is the call's; once answered, only the timeout is.
        using (requestCt.Register(static c => ((BridgedCall)c!).Cancel(), call))
        {
            var next = await call.NextAsync();
            if (next is null)
            {
                return (T)await call.Work!;
            }

            if (_parked.Count >= maxParked)
            {
                call.Refuse($"mcp-broker has {maxParked} requests waiting for their clients' answers already; try again when some are answered");
                return (T)await call.Work!;
            }

            var state = NewState();
            _parked[state] = call;
            call.ExpireAt(time, _answerTimeout, () =>
            {
                if (_parked.TryRemove(new(state, call)))
                {
                    call.Refuse($"the client did not retry with its answer within {Describe(_answerTimeout)}");
                    call.Cancel();
                }
            });
            throw new InputRequiredException(new Dictionary<string, InputRequest> { [next.Key] = next.Request }, state);
        }
    }

    /// <summary>128 random bits: nothing a client could guess, nothing of the upstream in it.</summary>
    private static string NewState() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Describe(TimeSpan span) => span.TotalMinutes >= 1 ? $"{span.TotalMinutes:0.#} min" : $"{span.TotalSeconds:0.###} s";
}

/// <summary>One upstream call that may ask the client something: its running work, and the question waiting for an answer.</summary>
internal sealed class BridgedCall(string owner)
{
    private readonly CancellationTokenSource _cts = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource<Question> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Question? _pending;
    private ITimer? _expiry;
    private int _asked;

    /// <summary>What parked it: a retry by anyone else does not find it.</summary>
    public string Owner => owner;

    public Task<object>? Work { get; private set; }

    /// <summary>The client as the upstream sees it during the call.</summary>
    public BridgedServer? Server { get; set; }

    /// <summary>A request to the client (its key in <c>inputRequests</c>) and where its answer goes.</summary>
    public sealed record Question(string Key, InputRequest Request, TaskCompletionSource<JsonNode?> Answer);

    public void Start(Func<CancellationToken, Task<object>> work)
    {
        Work = Task.Run(() => work(_cts.Token));
        _ = Work.ContinueWith(static (_, c) => ((BridgedCall)c!).Ended(), this, TaskScheduler.Default);
    }

    /// <summary>
    /// The upstream's request to the client: becomes the next <c>input_required</c>, and returns when the retry answers it.
    /// One at a time, as the SDK's own MRTR has it: an upstream that asks twice at once gets an error for the second.
    /// </summary>
    public async Task<JsonNode?> AskAsync(string method, JsonNode? parameters, CancellationToken ct)
    {
        if (Work is { IsCompleted: true })
        {
            // A 2026-07-28 client is asked only in answer to a request (input_required): after its call, nothing can reach it.
            throw new McpProtocolException($"mcp-broker cannot forward {method}: the client's call has been answered, and a client of protocol 2026-07-28 can only be asked within a call",
                McpErrorCode.InvalidRequest);
        }

        var question = new Question($"input_{Interlocked.Increment(ref _asked)}",
            new InputRequest { Method = method, Params = parameters is null ? null : JsonSerializer.SerializeToElement(parameters, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonNode))) },
            new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously));
        lock (_gate)
        {
            if (!_next.TrySetResult(question))
            {
                throw new McpProtocolException($"mcp-broker cannot forward {method}: another request of this call is waiting for the client's answer", McpErrorCode.InvalidRequest);
            }
        }

        return await question.Answer.Task.WaitAsync(ct);
    }

    /// <summary>The call's next question, or null when its work has ended.</summary>
    public async Task<Question?> NextAsync()
    {
        Task<Question> next;
        lock (_gate)
        {
            next = _next.Task;
        }

        if (await Task.WhenAny(Work!, next) != next)
        {
            return null;
        }

        lock (_gate)
        {
            _pending = next.Result;
            _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        return _pending;
    }

    /// <summary>The retry's answers: the pending question gets its own, or an error naming the key it lacked.</summary>
    public void Answer(IDictionary<string, InputResponse>? responses)
    {
        DisarmExpiry();
        var pending = TakePending();
        if (pending is null)
        {
            return;
        }

        if (responses is not null && responses.TryGetValue(pending.Key, out var response))
        {
            pending.Answer.TrySetResult(JsonSerializer.SerializeToNode(response.RawValue, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonElement))));
        }
        else
        {
            pending.Answer.TrySetException(new McpProtocolException($"the client's retry had no inputResponses entry '{pending.Key}'", McpErrorCode.InvalidParams));
        }
    }

    /// <summary>The pending question is answered with an error saying <paramref name="why"/>.</summary>
    public void Refuse(string why) =>
        TakePending()?.Answer.TrySetException(new McpProtocolException($"mcp-broker could not get the client's answer: {why}", McpErrorCode.InternalError));

    /// <summary>Ends the upstream call (the upstream is sent notifications/cancelled).</summary>
    public void Cancel()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void ExpireAt(TimeProvider time, TimeSpan after, Action expire)
    {
        lock (_gate)
        {
            _expiry?.Dispose();
            _expiry = time.CreateTimer(_ => expire(), null, after, Timeout.InfiniteTimeSpan);
        }
    }

    private void DisarmExpiry()
    {
        lock (_gate)
        {
            _expiry?.Dispose();
            _expiry = null;
        }
    }

    private Question? TakePending()
    {
        lock (_gate)
        {
            var pending = _pending;
            _pending = null;
            return pending;
        }
    }

    private void Ended()
    {
        DisarmExpiry();
        _ = Work!.Exception; // observed: the round that waits on it reports it
        // _cts is not disposed: an expiry or a client's cancellation may still come after the work ended, and it has no timer to release.
    }
}
