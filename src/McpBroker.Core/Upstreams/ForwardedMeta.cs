using System.Text.Json.Nodes;

namespace McpBroker.Upstreams;

/// <summary>What of a request's or a result's <c>_meta</c> is passed on between a client and an upstream.</summary>
internal static class ForwardedMeta
{
    /// <summary>
    /// An upstream's result without what its 2026-07-28 envelope adds: <c>_meta</c> entries under
    /// <c>io.modelcontextprotocol/</c> (its serverInfo and the like, which describe the upstream's connection to the
    /// broker, not the broker's to the client) and <c>resultType: "complete"</c>, which means the same as no result type
    /// and which a client of an older revision has never heard of. (SDK 2.4 writes both through to any client.)
    /// </summary>
    public static T Strip<T>(T result)
    {
        if (result is ModelContextProtocol.Protocol.Result typed)
        {
            typed.Meta = Of(typed.Meta);
            if (typed.ResultType == "complete")
            {
                typed.ResultType = null;
            }
        }

        return result;
    }

    /// <summary>The prefix of the keys the 2026-07-28 revision reserves for its per-request envelope.</summary>
    public const string ReservedPrefix = "io.modelcontextprotocol/";

    /// <summary>
    /// The client's <c>_meta</c> without the entries of its own protocol envelope (protocol version, client info and
    /// capabilities under 2026-07-28): they describe the client's connection to the broker, not the broker's to the
    /// upstream, which the SDK describes itself where the upstream's revision has them and an older upstream must not
    /// see. Null when nothing is left.
    /// </summary>
    public static JsonObject? Of(JsonObject? meta)
    {
        if (meta is null || !meta.Any(p => p.Key.StartsWith(ReservedPrefix, StringComparison.Ordinal)))
        {
            return meta;
        }

        var kept = new JsonObject();
        foreach (var (key, value) in meta)
        {
            if (!key.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            {
                kept[key] = value?.DeepClone();
            }
        }

        return kept.Count == 0 ? null : kept;
    }
}
