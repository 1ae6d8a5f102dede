
namespace McpBroker.Config;

/// <summary>
/// The config the daemon serves now, and what became of the last attempt to change it. Everything that must follow
/// a reload reads <see cref="Current"/> when it acts instead of keeping a model of its own.
/// </summary>
internal sealed class ConfigState(BrokerModel initial, TimeProvider time)
{
    private BrokerModel _current = initial;

    public BrokerModel Current => Volatile.Read(ref _current);

    /// <summary>1 for the config the daemon started with; one more for each change applied.</summary>
    public int Version { get; private set; } = 1;

    public DateTimeOffset LoadedAt { get; private set; } = time.GetUtcNow();

    /// <summary>The errors of the newest change that was refused, when no valid change has come since.</summary>
    public IReadOnlyList<string>? RejectedErrors { get; private set; }

    public DateTimeOffset? RejectedAt { get; private set; }

    /// <summary>Raised after a change is applied, with the new model.</summary>
    public event Action<BrokerModel>? Reloaded;

    public void Apply(BrokerModel next)
    {
        Volatile.Write(ref _current, next);
        Version++;
        LoadedAt = time.GetUtcNow();
        RejectedErrors = null;
        RejectedAt = null;
        Reloaded?.Invoke(next);
    }

    public void Reject(IReadOnlyList<string> errors)
    {
        RejectedErrors = errors;
        RejectedAt = time.GetUtcNow();
    }
}
