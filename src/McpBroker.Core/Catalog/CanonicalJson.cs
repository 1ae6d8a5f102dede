using System.Text.Json.Nodes;

namespace McpBroker.Catalog;

/// <summary>JSON with every object's keys in ordinal order: equal content serializes to equal bytes.</summary>
internal static class CanonicalJson
{
    public static JsonNode? Sort(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sort(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(Sort)]),
        null => null,
        _ => node.DeepClone(),
    };
}
