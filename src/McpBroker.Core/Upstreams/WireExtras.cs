using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// The fields of an upstream's tool definitions that the SDK's <see cref="Tool"/> does not model, kept beside each
/// <see cref="Tool"/> object so they reach clients as the upstream wrote them. *SDK workaround:* the typed models of
/// MCP C# SDK 2.4 drop what they do not know when they read JSON — the 2025-11-25 revision's <c>execution</c>
/// (<c>taskSupport</c>; the SDK moved tasks into an extension package) and servers' own annotation fields (e.g.
/// <c>annotations.category</c>) — and a broker built on those models would silently strip them from every tool list.
/// So tool lists are read as JSON (<see cref="ListAsync"/>), the typed tool is taken from it, and what it left out is
/// kept here (top-level fields, and fields inside <c>annotations</c>) and written back by <see cref="MergeInto"/>.
/// </summary>
internal static class ToolExtras
{
    private const string Annotations = "annotations";
    private static readonly ConditionalWeakTable<Tool, JsonObject> s_extras = [];

    /// <summary>The upstream's whole tool list, page by page, as JSON, each tool typed with its extras attached.</summary>
    public static async Task<IList<Tool>> ListAsync(McpClient client, CancellationToken ct)
    {
        var tools = new List<Tool>();
        var cursors = new HashSet<string>(StringComparer.Ordinal);
        string? cursor = null;
        do
        {
            var response = await client.SendRequestAsync(new JsonRpcRequest
            {
                Method = RequestMethods.ToolsList,
                Params = cursor is null ? null : new JsonObject { ["cursor"] = cursor },
            }, ct);
            if (response.Result is not JsonObject { } result || result["tools"] is not JsonArray listed)
            {
                throw new McpException("the upstream answered tools/list without a 'tools' list");
            }

            foreach (var raw in listed)
            {
                if (raw is JsonObject definition && definition.Deserialize(McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>()) is { } tool)
                {
                    tools.Add(Attach(tool, definition));
                }
            }

            cursor = result["nextCursor"] is JsonValue next && next.TryGetValue<string>(out var text) && text.Length > 0 ? text : null;
        }
        while (cursor is not null && cursors.Add(cursor)); // a server that hands out a cursor twice would loop forever

        return tools;
    }

    /// <summary>Keeps what <paramref name="raw"/> (the upstream's JSON of <paramref name="tool"/>) has that the typed tool lacks.</summary>
    public static Tool Attach(Tool tool, JsonObject raw)
    {
        var typed = Serialize(tool);
        var extras = new JsonObject();
        foreach (var (key, value) in raw)
        {
            if (key == Annotations && value is JsonObject annotations && typed[Annotations] is JsonObject known)
            {
                var inner = new JsonObject();
                foreach (var (name, field) in annotations.Where(a => !known.ContainsKey(a.Key)))
                {
                    inner[name] = field?.DeepClone();
                }

                if (inner.Count > 0)
                {
                    extras[Annotations] = inner;
                }
            }
            else if (!typed.ContainsKey(key))
            {
                extras[key] = value?.DeepClone();
            }
        }

        if (extras.Count > 0)
        {
            s_extras.AddOrUpdate(tool, extras);
        }

        return tool;
    }

    /// <summary>Gives <paramref name="copy"/> (a renamed or re-described copy) the extras of <paramref name="original"/>.</summary>
    public static Tool Carry(Tool original, Tool copy)
    {
        if (s_extras.TryGetValue(original, out var extras))
        {
            s_extras.AddOrUpdate(copy, extras);
        }

        return copy;
    }

    /// <summary>Adds the upstream's fields the typed tool lacks to its serialized form; fields already there are kept.</summary>
    public static void MergeInto(JsonObject serialized, Tool tool)
    {
        if (!s_extras.TryGetValue(tool, out var extras))
        {
            return;
        }

        foreach (var (key, value) in extras)
        {
            if (key == Annotations && value is JsonObject inner)
            {
                var annotations = serialized[Annotations] as JsonObject ?? (JsonObject)(serialized[Annotations] = new JsonObject());
                foreach (var (name, field) in inner.Where(f => !annotations.ContainsKey(f.Key)))
                {
                    annotations[name] = field?.DeepClone();
                }
            }
            else if (!serialized.ContainsKey(key))
            {
                serialized[key] = value?.DeepClone();
            }
        }
    }

    public static bool Any(IEnumerable<Tool> tools) => tools.Any(t => s_extras.TryGetValue(t, out _));

    /// <summary>The tool as the upstream wrote it: its typed form with the extras merged in.</summary>
    public static JsonObject Serialize(Tool tool, bool withExtras = false)
    {
        var node = (JsonObject)JsonSerializer.SerializeToNode(tool, McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>())!;
        if (withExtras)
        {
            MergeInto(node, tool);
        }

        return node;
    }
}
