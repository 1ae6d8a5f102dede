namespace McpBroker.Upstreams;

/// <summary>
/// Which client sessions are subscribed to which resource URIs of one upstream. The upstream itself is subscribed once
/// per URI: by the first subscriber, and unsubscribed by the last one out. Changes happen one at a time (a joiner never
/// counts on a subscribe that then fails).
/// </summary>
internal sealed class ResourceSubscriptions
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, HashSet<string>> _subscribers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changes = new(1, 1);

    /// <summary>Whether any session holds a subscription (an instance with subscriptions is not stopped for being idle).</summary>
    public bool Any
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count > 0;
            }
        }
    }

    /// <summary>Every URI someone holds (a new instance is subscribed to each).</summary>
    public string[] Uris()
    {
        lock (_gate)
        {
            return [.. _subscribers.Keys];
        }
    }

    /// <summary>The sessions subscribed to <paramref name="uri"/>.</summary>
    public string[] SubscribersOf(string uri)
    {
        lock (_gate)
        {
            return _subscribers.TryGetValue(uri, out var set) ? [.. set] : [];
        }
    }

    /// <summary>The URIs <paramref name="sessionId"/> is subscribed to.</summary>
    public string[] HeldBy(string sessionId)
    {
        lock (_gate)
        {
            return [.. _subscribers.Where(s => s.Value.Contains(sessionId)).Select(s => s.Key)];
        }
    }

    /// <summary>Subscribes a session; <paramref name="subscribeUpstream"/> runs for the first subscriber of a URI only.</summary>
    public async Task<Outcome<bool>> SubscribeAsync(string sessionId, string uri, Func<CancellationToken, Task<Outcome<bool>>> subscribeUpstream, CancellationToken ct)
    {
        await _changes.WaitAsync(ct);
        try
        {
            lock (_gate)
            {
                if (_subscribers.TryGetValue(uri, out var known) && known.Count > 0)
                {
                    known.Add(sessionId);
                    return true;
                }
            }

            var outcome = await subscribeUpstream(ct);
            if (outcome.Ok)
            {
                lock (_gate)
                {
                    _subscribers[uri] = new HashSet<string>(StringComparer.Ordinal) { sessionId };
                }
            }

            return outcome;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Ends a session's subscription; <paramref name="unsubscribeUpstream"/> runs when it was the last one and the
    /// upstream still runs (<paramref name="running"/>).
    /// </summary>
    public async Task<Outcome<bool>> UnsubscribeAsync(string sessionId, string uri, Func<bool> running,
        Func<CancellationToken, Task<Outcome<bool>>> unsubscribeUpstream, CancellationToken ct)
    {
        await _changes.WaitAsync(ct);
        try
        {
            if (!Unsubscribed(sessionId, uri) || !running())
            {
                return true;
            }

            return await unsubscribeUpstream(ct);
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>A session has ended: its subscriptions go; <paramref name="unsubscribeUpstream"/> runs for each URI nobody else holds.</summary>
    public async Task DropAsync(string sessionId, string[] uris, Func<string, Task> unsubscribeUpstream)
    {
        await _changes.WaitAsync();
        try
        {
            foreach (var uri in uris)
            {
                if (Unsubscribed(sessionId, uri))
                {
                    await unsubscribeUpstream(uri);
                }
            }
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>Removes a session's subscription; true when nobody is subscribed to the URI any more.</summary>
    private bool Unsubscribed(string sessionId, string uri)
    {
        lock (_gate)
        {
            if (!_subscribers.TryGetValue(uri, out var subscribers) || !subscribers.Remove(sessionId))
            {
                return false;
            }

            if (subscribers.Count == 0)
            {
                _subscribers.Remove(uri);
                return true;
            }

            return false;
        }
    }
}
