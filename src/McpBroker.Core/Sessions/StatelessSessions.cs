using System.Collections.Concurrent;
using McpBroker.Upstreams;

namespace McpBroker.Sessions;

/// <summary>
/// What "a session" is for a stateless HTTP client (protocol 2026-07-28: no initialize, no <c>Mcp-Session-Id</c>, each
/// request served on its own), so that its <c>mode: per_session</c> upstreams live across its requests and are never
/// shared with another client. A session is named by:
/// <list type="number">
/// <item>the profile and the bearer token that reached it (a digest of the token; another token never shares);</item>
/// <item>the client's explicit handle, the <c>Mcp-Broker-Session</c> header (any opaque value a client is configured to
/// send, e.g. through the <c>headers</c> of its server entry), when it sends one; else</item>
/// <item>the identity the client declares in every request, <c>_meta["io.modelcontextprotocol/clientInfo"]</c>
/// (name and version; "no clientInfo" is an identity of its own).</item>
/// </list>
/// So two clients that differ in any of these never share a per-session upstream, and one client's requests reuse its
/// own; two copies of one client program with the same token and no handle count as one session (send the header to
/// tell them apart). A session ends <see cref="Retention"/> after its last request ended (its per-session upstreams
/// then stop, as when a connection closes); at most <see cref="MaxSessions"/> are kept, the longest idle dropped first.
/// </summary>
internal sealed class StatelessSessions : IDisposable
{
    /// <summary>The HTTP header a stateless client may send to name its session itself.</summary>
    public const string HandleHeader = "Mcp-Broker-Session";

    /// <summary>How long a session outlives its last request.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(30);

    /// <summary>Sessions kept at once (each may hold upstream processes): beyond it the longest idle ends.</summary>
    public const int MaxSessions = 256;

    private readonly UpstreamRegistry _registry;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly ITimer _sweep;

    public StatelessSessions(UpstreamRegistry registry, TimeProvider time)
    {
        (_registry, _time) = (registry, time);
        _sweep = time.CreateTimer(_ => Sweep(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    /// <summary>The sessions kept now.</summary>
    public int Count => _sessions.Count;

    /// <summary>
    /// The broker session id of a stateless request's session (the same for every request of it), marked in use until
    /// the returned lease is disposed. Nothing secret is in the id: the token enters only through a digest of all parts.
    /// </summary>
    public Lease Enter(string profile, string token, string? handle, string? clientName, string? clientVersion)
    {
        // The token is hashed with the platform's SHA-256, as tokens are (see Shared.Sha256); the parts are length-prefixed.
        var parts = string.Join('\n', new[] { profile, token, handle is null ? "client" : "handle", handle ?? clientName ?? "", handle is null ? clientVersion ?? "" : "" }
            .Select(p => $"{p.Length}:{p}"));
        var id = "http-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(parts)))[..24];
        Entry entry;
        lock (_sessions)
        {
            entry = _sessions.GetOrAdd(id, static _ => new Entry());
            entry.InFlight++;
            entry.LastUsed = _time.GetTimestamp();
        }

        if (_sessions.Count > MaxSessions)
        {
            Sweep();
        }

        return new Lease(this, id, entry);
    }

    /// <summary>Ends the sessions idle for <see cref="Retention"/> (and the longest idle beyond <see cref="MaxSessions"/>).</summary>
    internal void Sweep()
    {
        List<string> ended = [];
        lock (_sessions)
        {
            var idle = _sessions.Where(s => s.Value.InFlight == 0).OrderBy(s => s.Value.LastUsed).ToList();
            var over = _sessions.Count - MaxSessions;
            foreach (var (id, entry) in idle)
            {
                if (over-- > 0 || _time.GetElapsedTime(entry.LastUsed) >= Retention)
                {
                    _sessions.TryRemove(id, out _);
                    ended.Add(id);
                }
            }
        }

        foreach (var id in ended)
        {
            _registry.ReleaseSession(id);
        }
    }

    public void Dispose() => _sweep.Dispose();

    internal sealed class Entry
    {
        public int InFlight;
        public long LastUsed;
    }

    /// <summary>One request of a stateless session.</summary>
    public sealed class Lease(StatelessSessions owner, string id, Entry entry) : IDisposable
    {
        public string Id => id;

        public void Dispose()
        {
            lock (owner._sessions)
            {
                entry.InFlight--;
                entry.LastUsed = owner._time.GetTimestamp();
            }
        }
    }
}
