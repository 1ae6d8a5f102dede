using System.Collections.Frozen;
using McpBroker.Config;
using Microsoft.Extensions.Logging;

namespace McpBroker.Upstreams;

/// <summary>Every enabled upstream's supervisor, by name. Stops them all, in parallel, when disposed.</summary>
internal sealed class UpstreamRegistry : IAsyncDisposable
{
    private readonly FrozenDictionary<string, UpstreamSupervisor> _supervisors;

    public UpstreamRegistry(BrokerModel model, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _supervisors = model.Upstreams
            .Where(u => u.Mode != UpstreamMode.Disabled)
            .ToFrozenDictionary(u => u.Name, u => new UpstreamSupervisor(u, loggerFactory, time), StringComparer.Ordinal);
    }

    public UpstreamSupervisor? Find(string name) => _supervisors.GetValueOrDefault(name);

    public IEnumerable<UpstreamSupervisor> All => _supervisors.Values;

    public void ReleaseSession(string sessionId)
    {
        foreach (var supervisor in _supervisors.Values)
        {
            supervisor.ReleaseSession(sessionId);
        }
    }

    public async ValueTask DisposeAsync() =>
        await Task.WhenAll(_supervisors.Values.Select(s => s.DisposeAsync().AsTask()));
}
