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

    /// <summary>Runs of non-space characters longer than this are counted in <see cref="Chunk"/>-character pieces.</summary>
    private const int LongRun = 256;

    private const int Chunk = 128;

    /// <summary>
    /// The o200k_base token count. Exact for text whose runs of non-space characters are at most <see cref="LongRun"/>
    /// long; a longer run is counted in pieces (at most one token more per piece than the whole would be): byte-pair
    /// encoding is quadratic in the length of one word, and 64 KB of one letter took 6 s, 20 MB would take days (a
    /// hostile server's description must not stall the status page).
    /// </summary>
    public static int Tokens(string text)
    {
        var tokenizer = s_o200k.Value;
        var total = 0;
        var from = 0;
        var run = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                run = run < 0 ? i : run;
                continue;
            }

            if (run >= 0 && i - run > LongRun)
            {
                total += tokenizer.CountTokens(text.AsSpan(from, run - from));
                for (var piece = run; piece < i; piece += Chunk)
                {
                    total += tokenizer.CountTokens(text.AsSpan(piece, Math.Min(Chunk, i - piece)));
                }

                from = i;
            }

            run = -1;
        }

        return from == 0 ? tokenizer.CountTokens(text) : total + tokenizer.CountTokens(text.AsSpan(from));
    }

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
