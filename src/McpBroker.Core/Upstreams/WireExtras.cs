using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// What an upstream wrote in a definition (a tool, a prompt) that the SDK's typed model of it does not hold, kept
/// beside the typed object so it reaches clients as the upstream wrote it. *SDK workaround:* the typed models of MCP C#
/// SDK 2.4 drop every field they do not know when they read JSON — the 2025-11-25 revision's <c>execution</c> on tools
/// (the SDK moved tasks into an extension package), servers' own fields such as <c>annotations.category</c> or a prompt
/// argument's <c>default</c> — and a broker built on them would strip those from every list. So lists are read as JSON
/// (<see cref="ListToolsAsync"/>, <see cref="ListPromptsAsync"/>), the typed object is taken from it, and what it left
/// out, at any depth (fields of nested objects, items of arrays of the same length), is kept here and written back by
/// <see cref="MergeInto"/>. Fields the broker sets (a renamed tool's name, a replaced description) are never overwritten.
/// </summary>
internal static class WireExtras
{
    private static readonly ConditionalWeakTable<object, JsonNode> s_extras = [];

    /// <summary>
    /// The upstream's tool list, page by page, as JSON, each tool typed with its extras attached; no further page is asked
    /// for once more than <paramref name="keep"/> tools arrived (the catalog keeps only that many: a server with endless
    /// pages must not fill the daemon's memory).
    /// </summary>
    public static Task<IList<Tool>> ListToolsAsync(McpClient client, int keep, CancellationToken ct) => AllAsync<Tool>(client, RequestMethods.ToolsList, "tools", ct, keep);

    /// <summary>The upstream's whole prompt list, as <see cref="ListToolsAsync"/>.</summary>
    public static Task<IList<Prompt>> ListAllPromptsAsync(McpClient client, CancellationToken ct) => AllAsync<Prompt>(client, RequestMethods.PromptsList, "prompts", ct);

    private static async Task<IList<T>> AllAsync<T>(McpClient client, string method, string key, CancellationToken ct, int keep = int.MaxValue) where T : class
    {
        var items = new List<T>();
        var cursors = new HashSet<string>(StringComparer.Ordinal);
        string? cursor = null;
        do
        {
            var page = await PageAsync(client, method, cursor, ct);
            items.AddRange(Items<T>(page, key));
            cursor = NextCursor(page);
        }
        while (cursor is not null && items.Count <= keep && cursors.Add(cursor)); // a server that hands out a cursor twice would loop forever

        return items;
    }

    /// <summary>One page of the upstream's prompts, as JSON, each prompt typed with its extras attached.</summary>
    public static async Task<ListPromptsResult> ListPromptsAsync(McpClient client, string? cursor, CancellationToken ct)
    {
        var page = await PageAsync(client, RequestMethods.PromptsList, cursor, ct);
        return new ListPromptsResult { Prompts = Items<Prompt>(page, "prompts"), NextCursor = NextCursor(page) };
    }

    /// <summary>Keeps what <paramref name="raw"/> (the upstream's JSON of <paramref name="typed"/>) has that the typed object lacks.</summary>
    public static T Attach<T>(T typed, JsonObject raw) where T : class
    {
        if (Diff(raw, Serialize(typed)) is { } extras)
        {
            s_extras.AddOrUpdate(typed, extras);
        }

        return typed;
    }

    /// <summary>Gives <paramref name="copy"/> (a renamed or re-described copy) the extras of <paramref name="original"/>.</summary>
    public static T Carry<T>(T original, T copy) where T : class
    {
        if (s_extras.TryGetValue(original, out var extras))
        {
            s_extras.AddOrUpdate(copy, extras);
        }

        return copy;
    }

    /// <summary>Adds what the upstream wrote and the typed object lacks to its serialized form; fields already there stay.</summary>
    public static void MergeInto(JsonNode serialized, object typed)
    {
        if (s_extras.TryGetValue(typed, out var extras))
        {
            Merge(serialized, extras);
        }
    }

    public static bool Any(IEnumerable<object> items) => items.Any(i => s_extras.TryGetValue(i, out _));

    /// <summary>The typed object as JSON, with what the upstream wrote beside it merged in when <paramref name="withExtras"/>.</summary>
    public static JsonObject Serialize(object typed, bool withExtras = false)
    {
        var node = (JsonObject)JsonSerializer.SerializeToNode(typed, McpJsonUtilities.DefaultOptions.GetTypeInfo(typed.GetType()))!;
        if (withExtras)
        {
            MergeInto(node, typed);
        }

        return node;
    }

    private static async Task<JsonObject> PageAsync(McpClient client, string method, string? cursor, CancellationToken ct)
    {
        var response = await client.SendRequestAsync(new JsonRpcRequest
        {
            Method = method,
            Params = cursor is null ? null : new JsonObject { ["cursor"] = cursor },
        }, ct);
        return response.Result as JsonObject ?? throw new McpException($"the upstream answered {method} with no result object");
    }

    /// <summary>The typed items of <paramref name="page"/>'s <paramref name="key"/> list, each with its extras attached.</summary>
    public static List<T> Items<T>(JsonObject page, string key) where T : class =>
        page[key] is JsonArray listed
            ? [.. listed.OfType<JsonObject>().Select(raw => Attach((T)raw.Deserialize(McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(T)))!, raw))]
            : throw new McpException($"the upstream's answer has no '{key}' list");

    private static string? NextCursor(JsonObject page) =>
        page["nextCursor"] is JsonValue next && next.TryGetValue<string>(out var text) && text.Length > 0 ? text : null;

    /// <summary>What <paramref name="raw"/> holds that <paramref name="typed"/> does not; null when nothing.</summary>
    private static JsonNode? Diff(JsonNode? raw, JsonNode? typed)
    {
        switch (raw, typed)
        {
            case (JsonObject r, JsonObject t):
                var fields = new JsonObject();
                foreach (var (key, value) in r)
                {
                    if (!t.TryGetPropertyValue(key, out var known))
                    {
                        fields[key] = value?.DeepClone();
                    }
                    else if (Diff(value, known) is { } inner)
                    {
                        fields[key] = inner;
                    }
                }

                return fields.Count == 0 ? null : fields;
            case (JsonArray r, JsonArray t) when r.Count == t.Count:
                var items = new JsonArray();
                var any = false;
                for (var i = 0; i < r.Count; i++)
                {
                    var inner = Diff(r[i], t[i]);
                    any |= inner is not null;
                    items.Add(inner);
                }

                return any ? items : null;
            default:
                return null;
        }
    }

    private static void Merge(JsonNode into, JsonNode extras)
    {
        switch (into, extras)
        {
            case (JsonObject o, JsonObject e):
                foreach (var (key, value) in e)
                {
                    if (!o.TryGetPropertyValue(key, out var existing))
                    {
                        o[key] = value?.DeepClone();
                    }
                    else if (existing is not null && value is not null)
                    {
                        Merge(existing, value);
                    }
                }

                break;
            case (JsonArray a, JsonArray e) when a.Count == e.Count:
                for (var i = 0; i < a.Count; i++)
                {
                    if (a[i] is { } item && e[i] is { } inner)
                    {
                        Merge(item, inner);
                    }
                }

                break;
        }
    }
}
