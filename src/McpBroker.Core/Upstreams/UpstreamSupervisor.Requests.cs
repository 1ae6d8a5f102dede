using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Transports;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// The request path: a slot (<see cref="ConcurrencyGate"/>), an instance (started if need be), the call with its
/// timeout, and what a failure means — an upstream's error answer, an HTTP 429/5xx retried with backoff (idempotent
/// requests only), an HTTP session the server forgot renewed once, a crash, or a timeout followed by a health check.
/// Whether and when a request is sent again is <see cref="RequestRetry"/>'s decision; this carries it out.
/// </summary>
internal sealed partial class UpstreamSupervisor
{
    /// <summary>Lists the upstream's tools; an http/sse upstream's HTTP 429/5xx answers are retried with backoff.</summary>
    public Task<Outcome<IList<Tool>>> ListToolsAsync(string? sessionId, CancellationToken ct) =>
        RunAsync(sessionId, Model.StartTimeout, retryable: true, (client, token) => WireExtras.ListToolsAsync(client, Model.MaxTools, token), ct);

    /// <summary>
    /// Calls a tool; <paramref name="idempotent"/> lets HTTP 429/5xx answers of an http/sse upstream be retried, and
    /// <paramref name="progress"/> (when the caller asked for progress) receives the upstream's progress params in order.
    /// </summary>
    public async Task<Outcome<CallToolResult>> CallToolAsync(string? sessionId, string tool, IDictionary<string, JsonElement>? arguments, CancellationToken ct,
        bool idempotent = false, Func<JsonObject, ValueTask>? progress = null)
    {
        using var lease = progress is null ? default(ProgressRelay.Lease?) : ProgressRelay.Open(progress);
        var meta = Telemetry.TraceContext.Outgoing(lease is { } l ? new JsonObject { ["progressToken"] = l.Token } : null);
        return await RunAsync(sessionId, Model.CallTimeoutFor(tool), idempotent, async (client, token) =>
            ForwardedMeta.Strip(await client.CallToolAsync(new CallToolRequestParams { Name = tool, Arguments = arguments, Meta = meta }, token)), ct);
    }

    /// <summary>
    /// Any other request of a session (resources, prompts, completion) on the running (or a started) instance, with the
    /// same start, limits, timeout and failure handling as a tool call; <paramref name="retryable"/> for reads.
    /// </summary>
    /// An error the upstream answers with is thrown as it came (code and message, secrets masked), so a client sees
    /// what it would have seen directly.
    public Task<Outcome<T>> RequestAsync<T>(string? sessionId, bool retryable, Func<McpClient, CancellationToken, Task<T>> action, CancellationToken ct) =>
        RunAsync(sessionId, Model.CallTimeout, retryable, action, ct, passErrors: true);

    private async Task<Outcome<T>> RunAsync<T>(string? sessionId, TimeSpan timeout, bool retryable, Func<McpClient, CancellationToken, Task<T>> action, CancellationToken ct,
        bool passErrors = false)
    {
        Interlocked.Increment(ref _inFlight);
        Touch();
        var slot = false;
        var entered = false;
        try
        {
            using var timer = new CancellationTokenSource(timeout, _time);
            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
            if (_concurrency.Full)
            {
                return new BrokerError(BrokerErrorCode.UpstreamBusy,
                    $"upstream '{Model.Name}' already has {Model.MaxConcurrency} request(s) running and {Model.MaxQueue} waiting",
                    $"retry shortly, or raise upstreams.{Model.Name}.max_concurrency / max_queue");
            }

            try
            {
                slot = await _concurrency.EnterAsync(timeoutCts.Token);
            }
            catch (OperationCanceledException)
            {
                return ct.IsCancellationRequested ? Cancelled() : TimedOut(timeout, "waiting for a free slot");
            }

            // A request waiting for a slot is not yet one the upstream could be asking about.
            if (sessionId is not null)
            {
                lock (_gate)
                {
                    _sessions.Add(sessionId);
                }

                _routing.Enter(sessionId);
                entered = true;
            }

            var started = await GetInstanceAsync(ct);
            if (!started.Ok)
            {
                return started.Error!;
            }

            var instance = started.Value!;
            var retry = new RequestRetry(Model.Name, retryable);

            // Moves the request to the current (or a new) instance; the error when there is none to move to.
            async Task<BrokerError?> ReconnectAsync()
            {
                var again = await GetInstanceAsync(timeoutCts.Token);
                if (again.Ok)
                {
                    instance = again.Value!;
                    return null;
                }

                return ct.IsCancellationRequested ? Cancelled() : timeoutCts.IsCancellationRequested ? TimedOut(timeout, "reconnecting") : again.Error!;
            }

            for (var attempt = 1; ; attempt++)
            {
                // Over Streamable HTTP the id the SDK gives the request is noted, to cancel it by (CancelOverHttpAsync).
                var sent = Model.Transport == UpstreamTransport.Http ? Transports.HttpCancellation.Watch() : null;
                try
                {
                    // Linked to the instance's end, so a request in flight fails the moment its process exits (or its
                    // HTTP session ends), whatever the SDK client is still waiting for.
                    using var requestCts = CancellationTokenSource.CreateLinkedTokenSource(timeoutCts.Token, instance.Dead);
                    var result = await action(instance.Client, requestCts.Token);
                    RecordSuccess();
                    return result;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    await CancelOverHttpAsync(instance, sent, "the client cancelled the request");
                    return Cancelled();
                }
                catch (McpProtocolException ex)
                {
                    RecordSuccess();
                    if (passErrors)
                    {
                        // The SDK prefixes what the server said; the client's own SDK prefixes it again.
                        const string sdkPrefix = "Request failed (remote): ";
                        var said = ex.Message.StartsWith(sdkPrefix, StringComparison.Ordinal) ? ex.Message[sdkPrefix.Length..] : ex.Message;
                        throw new McpProtocolException(SecretMask.Mask(said), ex.ErrorCode);
                    }

                    return new BrokerError(BrokerErrorCode.UpstreamError, $"upstream '{Model.Name}' answered with an error: {SecretMask.Mask(ex.Message)}",
                        "check the arguments against describe_tool's input schema");
                }
                catch (Exception ex) when (instance.Remote && RequestRetry.RetryableStatus(ex) is { } status)
                {
                    var step = retry.AfterHttpStatus(status, attempt);
                    if (step.Action == RetryAction.GiveUp)
                    {
                        return step.Error!;
                    }

                    Log.Retrying(_logger, Model.Name, (int)status, attempt);
                    try
                    {
                        await Task.Delay(step.Delay, _time, timeoutCts.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return ct.IsCancellationRequested ? Cancelled() : TimedOut(timeout, "answering (retrying after HTTP errors)");
                    }

                    // The connection ended while we waited: retry on the next one.
                    if (instance.Ended.IsCompleted && await ReconnectAsync() is { } failed)
                    {
                        return failed;
                    }
                }
                catch (Exception ex)
                {
                    if (ex is OperationCanceledException && timeoutCts.IsCancellationRequested)
                    {
                        // Timed out: the SDK has sent notifications/cancelled over stdio and SSE; over Streamable HTTP it has not.
                        await CancelOverHttpAsync(instance, sent, $"timed out after {new Duration(timeout)}");
                    }

                    // A dead process fails every pending request; give its exit (and last stderr lines) a moment to land.
                    // So too an HTTP session the server forgot: the SDK ends the client when the 404 arrives, and the
                    // request may fail with that end (a cancellation) before, or instead of, its own HTTP 404.
                    var ended = await instance.EndedWithin(TimeSpan.FromSeconds(1));
                    var ownExpiry = RemoteFailure.SessionExpired(ex);
                    if (instance.Remote && (ownExpiry || (ended && instance.SessionExpired)))
                    {
                        switch (retry.AfterSessionExpired(ownExpiry).Action)
                        {
                            case RetryAction.RenewSession:
                                // Start a new session and retry (the request that got the 404 never ran; others in
                                // flight then may have, so they are retried only when idempotent).
                                Log.SessionExpired(_logger, Model.Name);
                                await StopInstanceAsync(instance, null);
                                if (await ReconnectAsync() is { } failed)
                                {
                                    return failed;
                                }

                                continue;
                            case RetryAction.RenewedSessionForgotten:
                                return await NewSessionForgottenAsync(instance);
                        }
                    }

                    if (ended)
                    {
                        return new BrokerError(BrokerErrorCode.UpstreamCrashed,
                            $"upstream '{Model.Name}' {(instance.Remote ? "lost its connection" : "crashed")} during the request: {instance.Describe()}",
                            "the next request starts it again; 'broker.status' shows its state");
                    }

                    if (ex is OperationCanceledException)
                    {
                        // The upstream has been told (see above). A shared upstream serving others is kept unless it is hung.
                        _ = CheckHealthAsync(instance);
                        return TimedOut(timeout, "answering");
                    }

                    return new BrokerError(BrokerErrorCode.UpstreamError, $"the request to upstream '{Model.Name}' failed: {SecretMask.Mask(RemoteFailure.Explain(ex, Model))}",
                        "'broker.status' shows the upstream's state");
                }
            }
        }
        finally
        {
            if (slot)
            {
                _concurrency.Release();
            }

            Touch();
            if (entered)
            {
                _routing.Exit(sessionId!);
            }

            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>A session the server forgets at once is a failure (so a server that always does this opens the circuit).</summary>
    private async Task<BrokerError> NewSessionForgottenAsync(UpstreamInstance instance)
    {
        const string why = "the server ended a new session at once (HTTP 404 again)";
        if (!await StopInstanceAsync(instance, why))
        {
            lock (_gate)
            {
                RecordFailure(why); // its end was noticed first and taken out of service without counting
            }
        }

        return new BrokerError(BrokerErrorCode.UpstreamError, $"upstream '{Model.Name}': {why}",
            $"check upstreams.{Model.Name}.url, and whether the server keeps sessions (a load balancer without session affinity?)");
    }

    /// <summary>
    /// A request given up on over Streamable HTTP: the SDK only dropped its POST, which is the cancellation for a
    /// 2026-07-28 server but not for a session-era one, which is sent <c>notifications/cancelled</c> (Transports/HttpCancellation).
    /// Over stdio and SSE the SDK has sent it itself.
    /// </summary>
    private async Task CancelOverHttpAsync(UpstreamInstance instance, Transports.HttpCancellation.Sent? sent, string reason)
    {
        if (sent?.Last is not { } id || instance.Ended.IsCompleted
            || ProtocolMemory.IsStateless(instance.Client.NegotiatedProtocolVersion ?? ProtocolMemory.StatelessRevision))
        {
            return;
        }

        if (!await Transports.HttpCancellation.SendAsync(instance.Client, id, reason, _time))
        {
            Log.CancelNotSent(_logger, Model.Name);
        }
    }

    private static BrokerError Cancelled() => new(BrokerErrorCode.Cancelled, "the request was cancelled", "");

    private BrokerError TimedOut(TimeSpan timeout, string doing) => new(BrokerErrorCode.UpstreamTimeout,
        $"upstream '{Model.Name}' did not finish {doing} within {new Duration(timeout)}; the request was cancelled upstream",
        $"raise upstreams.{Model.Name}.timeouts.call (or timeouts.tools.TOOL), or retry with a smaller request");

    private void Touch() => _idle.Touch();

    private void RecordSuccess()
    {
        lock (_gate)
        {
            _circuit.Reset();
        }
    }

    /// <summary>After a timeout: an upstream that no longer answers ping is hung, and is restarted on the next request.</summary>
    private async Task CheckHealthAsync(UpstreamInstance instance)
    {
        if (!await HealthCheck.AnswersAsync(instance.Client, _time))
        {
            Log.Hung(_logger, Model.Name, instance.Label);
            await StopInstanceAsync(instance, $"did not answer ping within {new Duration(HealthCheck.Timeout)} after a timed-out call; restarted on the next request");
        }
    }
}
