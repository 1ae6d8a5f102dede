using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Catalog;
using Microsoft.ML.Tokenizers;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Measure;

/// <summary>What a tool list costs a model: tools, UTF-8 bytes and o200k_base tokens of its canonical serialization.</summary>
public readonly record struct Cost(int Tools, int Bytes, int Tokens);

/// <summary>
/// The context cost of tool definitions, counted offline. The canonical serialization is <c>{"tools":[...]}</c> with
/// every object's keys sorted and no whitespace, so a count depends on content only, not on who serialized it.
/// </summary>
public static class ContextCost
{
    // As servers send it: non-ASCII text as is, not \u-escaped (escapes would inflate the count).
    private static readonly JsonSerializerOptions s_wire = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly Lazy<Tokenizer> s_o200k = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    public static int Tokens(string text) => s_o200k.Value.CountTokens(text);

    public static string Canonical(IEnumerable<Tool> tools)
    {
        var array = new JsonArray([.. tools.Select(t => JsonSerializer.SerializeToNode(t, McpJsonUtilities.DefaultOptions.GetTypeInfo<Tool>()))]);
        return CanonicalJson.Sort(new JsonObject { ["tools"] = array })!.ToJsonString(s_wire);
    }

    public static Cost Of(IReadOnlyCollection<Tool> tools)
    {
        var text = Canonical(tools);
        return new Cost(tools.Count, Encoding.UTF8.GetByteCount(text), Tokens(text));
    }

    /// <summary>The cost of tool definitions kept as JSON (a client's cache), serialized the same canonical way.</summary>
    public static Cost OfDefinitions(IReadOnlyCollection<JsonNode?> definitions)
    {
        var text = CanonicalJson.Sort(new JsonObject { ["tools"] = new JsonArray([.. definitions.Select(d => d?.DeepClone())]) })!.ToJsonString(s_wire);
        return new Cost(definitions.Count, Encoding.UTF8.GetByteCount(text), Tokens(text));
    }

    /// <summary>How much smaller <paramref name="after"/> is, in percent of <paramref name="before"/> (0 when before is 0).</summary>
    public static double Reduction(int before, int after) => before == 0 ? 0 : Math.Round(100.0 * (before - after) / before, 1);
}
