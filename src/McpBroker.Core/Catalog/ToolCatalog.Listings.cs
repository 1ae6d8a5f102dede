using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>
/// Listings: at most one in flight per upstream, shared by every request that needs it; failures remembered with the
/// time the background may retry; a refresh when an instance starts or says its tools changed.
/// </summary>
internal sealed partial class ToolCatalog
{
    /// <summary>
    /// How long a request may wait for an upstream's first listing (one that never failed, on a cold daemon without a
    /// disk cache), counted from when that listing began: long enough for a healthy server (npx included) to start,
    /// short enough that a client's own timeout is not reached. What is not listed by then follows in the background.
    /// </summary>
    public static readonly TimeSpan FirstListingWait = TimeSpan.FromSeconds(10);

    /// <summary>Waits for a listing, but no longer than <paramref name="left"/>: what is not listed by then arrives in the background.</summary>
    private async Task UntilListedOrAsync(Task listing, TimeSpan left, CancellationToken ct)
    {
        try
        {
            await listing.WaitAsync(left, _time, ct);
        }
        catch (TimeoutException)
        {
            // Raw sessions are told list_changed when it arrives.
        }
    }

    /// <summary>The listing in flight of a missing upstream that has never failed (started here if none is); null once it has failed.</summary>
    private Listing? FirstListing(UpstreamModel model, string? sessionId)
    {
        if (HasFailed(model, sessionId))
        {
            return null;
        }

        ListOnce(model, sessionId);
        lock (_gate)
        {
            // Null when it finished meanwhile: listed (the caller finds it in the snapshot) or failed.
            return _listings.GetValueOrDefault(model.Name);
        }
    }

    /// <summary>Whether listing the upstream failed since its last success, or its instance has failures (backoff, open circuit).</summary>
    private bool HasFailed(UpstreamModel model, string? sessionId)
    {
        lock (_gate)
        {
            if (_failed.ContainsKey(model.Name))
            {
                return true;
            }
        }

        return _registry.Snapshot(model.Name, sessionId).Failing;
    }

    /// <summary>Starts a background listing of a failed upstream once its retry time (the catalog's and its instance's) has come.</summary>
    private void RetryInBackgroundIfDue(UpstreamModel model, string? sessionId)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_listings.ContainsKey(model.Name) || (_failed.TryGetValue(model.Name, out var failed) && now < failed.RetryAt))
            {
                return;
            }
        }

        if (_registry.Snapshot(model.Name, sessionId).RetryAt is { } retryAt && now < retryAt)
        {
            return;
        }

        ListOnce(model, sessionId);
    }

    /// <summary>Why a missing upstream has no tools in the catalog: its last failure, or that it is still being listed.</summary>
    private BrokerError WhyMissing(UpstreamModel model, string? sessionId)
    {
        lock (_gate)
        {
            if (_failed.TryGetValue(model.Name, out var failed))
            {
                return failed.Error;
            }
        }

        var state = _registry.Snapshot(model.Name, sessionId);
        return state.Failing
            ? new BrokerError(BrokerErrorCode.UpstreamUnavailable, state.DescribeFailure(), "'broker.status' shows its state; its tools appear once it answers")
            : new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{model.Name}' is starting: its tools are not listed yet",
                "search again in a moment (raw sessions are sent tools/list_changed when they arrive); 'broker.status' shows its state");
    }

    /// <summary>
    /// The one listing in flight of an upstream, started by <paramref name="list"/> (by default on the instance the session
    /// would use) when none is. Its outcome is in the catalog (or its failures) before the task completes.
    /// </summary>
    private Task<Outcome<IList<Tool>>> ListOnce(UpstreamModel model, string? sessionId, Func<Task<Outcome<IList<Tool>>>>? list = null)
    {
        lock (_gate)
        {
            if (_listings.TryGetValue(model.Name, out var running))
            {
                return running.Task;
            }

            var done = new TaskCompletionSource<Outcome<IList<Tool>>>(TaskCreationOptions.RunContinuationsAsynchronously);
            var listing = new Listing(done.Task, _time.GetUtcNow());
            _listings[model.Name] = listing;
            _ = RunListingAsync(model, listing, done, list ?? (() => ListAsync(model, sessionId)));
            return done.Task;
        }
    }

    private async Task RunListingAsync(UpstreamModel model, Listing listing, TaskCompletionSource<Outcome<IList<Tool>>> done, Func<Task<Outcome<IList<Tool>>>> list)
    {
        await Task.Yield();
        Outcome<IList<Tool>> result;
        try
        {
            result = await list();
        }
        catch (Exception ex)
        {
            result = new BrokerError(BrokerErrorCode.Internal, $"listing the tools of '{model.Name}' failed: {ex.GetType().Name}",
                "the daemon log has details");
        }

        if (result.Ok)
        {
            Update(model, result.Value!);
        }
        else
        {
            LogRefreshFailed(model.Name, result.Error!.Message);
        }

        bool again;
        lock (_gate)
        {
            _listings.Remove(model.Name);
            again = listing.Again;
            if (result.Ok)
            {
                _failed.Remove(model.Name);
            }
            else
            {
                // Not retried in the background before the upstream's own backoff would retry it.
                var count = _failed.TryGetValue(model.Name, out var before) ? before.Count + 1 : 1;
                _failed[model.Name] = new ListingFailure(count, _time.GetUtcNow() + model.Restart.DelayAfter(count + 1), result.Error!);
            }
        }

        done.SetResult(result);
        if (again && result.Ok)
        {
            _ = ListOnce(model, null, list);
        }
    }

    /// <summary>A listing in flight; <see cref="Again"/> when the upstream announced a change meanwhile (list once more after it).</summary>
    private sealed class Listing(Task<Outcome<IList<Tool>>> task, DateTimeOffset startedAt)
    {
        public Task<Outcome<IList<Tool>>> Task => task;

        public DateTimeOffset StartedAt => startedAt;

        public bool Again { get; set; }
    }

    /// <summary>Listings of an upstream that failed in a row, the last one's error, and when the background may try again.</summary>
    private sealed record ListingFailure(int Count, DateTimeOffset RetryAt, BrokerError Error);

    private async Task<Outcome<IList<Tool>>> ListAsync(UpstreamModel model, string? sessionId)
    {
        if (_registry.Acquire(model.Name, sessionId) is not { } lease)
        {
            return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{model.Name}' was removed from the config", "");
        }

        await using (lease)
        {
            return await lease.Supervisor.ListToolsAsync(sessionId, CancellationToken.None);
        }
    }

    /// <summary>Lists the tools of an instance that just started or announced a change, and takes in what differs.</summary>
    private void Refresh(UpstreamSupervisor supervisor, ToolsChange change)
    {
        var model = supervisor.Model;

        // A per-call instance lives for one request: listing on every start would double each call.
        if (model.Mode == UpstreamMode.PerCall
            || (change == ToolsChange.Started && Current.Upstreams.GetValueOrDefault(model.Name) is { } known
                && supervisor.Snapshot().StartedAt is { } started && known.FetchedAt >= started))
        {
            return;
        }

        lock (_gate)
        {
            if (_listings.TryGetValue(model.Name, out var running))
            {
                // A start is seen by the listing in flight (it waits for the instance); a change needs one more after it.
                running.Again |= change == ToolsChange.ListChanged;
                return;
            }
        }

        _ = ListOnce(model, null, () => supervisor.ListToolsAsync(null, CancellationToken.None));
    }
}
