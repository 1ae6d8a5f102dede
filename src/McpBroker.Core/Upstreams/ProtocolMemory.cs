using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using McpBroker.Config;

namespace McpBroker.Upstreams;

/// <summary>
/// What an upstream endpoint declared when it last started, as remembered on disk: the protocol revision it spoke, and
/// its capabilities and instructions (raw JSON), which a transparent profile's sessions declare as their own.
/// </summary>
internal sealed record RememberedProtocol(
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("learned_at")] DateTimeOffset LearnedAt,
    [property: JsonPropertyName("capabilities")] JsonNode? Capabilities = null,
    [property: JsonPropertyName("instructions")] string? Instructions = null);

/// <summary>
/// Which protocol revision each upstream endpoint negotiated (and what it declared), kept beside the tool catalog under
/// <c>cache/protocols/</c> so a restarted daemon does not probe again: a server that answered <c>initialize</c> with an
/// older revision (2024-11-05 … 2025-11-25) is started with <c>initialize</c> at that revision directly, without the
/// <c>server/discover</c> probe (which an older server may ignore until the probe timeout). Keyed by what is started:
/// a remote upstream by its URL (two upstreams on one URL share what was learned), a stdio one by its command line,
/// working directory and environment (<see cref="UpstreamModel.Fingerprint"/>). Keys are hashes, so no URL or argument
/// (which may carry a credential) is written.
/// </summary>
internal sealed class ProtocolMemory(string directory, TimeProvider time)
{
    /// <summary>The first revision without <c>initialize</c> (stateless, per-request metadata).</summary>
    public const string StatelessRevision = "2026-07-28";

    private readonly ConcurrentDictionary<string, RememberedProtocol?> _known = new(StringComparer.Ordinal);

    /// <summary>True for a revision of the stateless era (no <c>initialize</c>; <c>server/discover</c>).</summary>
    public static bool IsStateless(string version) => string.CompareOrdinal(version, StatelessRevision) >= 0;

    /// <summary>The era of a revision, as status shows it.</summary>
    public static string Era(string version) => IsStateless(version) ? "stateless" : "session";

    public string? Recall(UpstreamModel model) => Declared(model)?.Version;

    /// <summary>Everything remembered of the endpoint's last start; null when it never started (or was forgotten).</summary>
    public RememberedProtocol? Declared(UpstreamModel model) => _known.GetOrAdd(Key(model), Read);

    public void Remember(UpstreamModel model, string version, JsonNode? capabilities = null, string? instructions = null)
    {
        var key = Key(model);
        if (_known.TryGetValue(key, out var known) && known is not null && known.Version == version && known.Instructions == instructions
            && JsonNode.DeepEquals(known.Capabilities, capabilities))
        {
            return;
        }

        var entry = new RememberedProtocol(version, time.GetUtcNow(), capabilities?.DeepClone(), instructions);
        _known[key] = entry;
        try
        {
            Platform.PrivateFiles.CreateDirectory(directory);
            Platform.PrivateFiles.WriteAtomic(PathOf(key), JsonSerializer.SerializeToUtf8Bytes(entry, ProtocolMemoryJsonContext.Default.RememberedProtocol));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only the probe is saved by it: the memory of this process still holds it.
        }
    }

    public void Forget(UpstreamModel model)
    {
        var key = Key(model);
        _known[key] = null;
        try
        {
            File.Delete(PathOf(key));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A stale file is harmless: a mismatch on the next start forgets it again.
        }
    }

    private RememberedProtocol? Read(string key)
    {
        try
        {
            return File.Exists(PathOf(key))
                ? JsonSerializer.Deserialize(File.ReadAllBytes(PathOf(key)), ProtocolMemoryJsonContext.Default.RememberedProtocol) is { Version.Length: > 0 } entry ? entry : null
                : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private string PathOf(string key) => Path.Combine(directory, key + ".json");

    private static string Key(UpstreamModel model) => model.Remote is { } remote
        ? "url-" + Convert.ToHexStringLower(Shared.Sha256.HashData(Encoding.UTF8.GetBytes(remote.Url.ToString())))[..16]
        : "cmd-" + model.Fingerprint;
}

[JsonSerializable(typeof(RememberedProtocol))]
internal sealed partial class ProtocolMemoryJsonContext : JsonSerializerContext;
