using System.Text;
using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>
/// What the broker takes from an upstream's tool list (issue 27): the first <c>max_tools</c> tools, each definition at
/// most <c>max_tool_bytes</c> of JSON. An oversized definition whose description is the excess keeps a cut description
/// (marked <see cref="Mark"/>); one that is too big even without it is dropped. Each cut is a warning that status shows.
/// Applied once per listing, before anything else reads the list (pins, the search index, names, the disk cache, the
/// context measure), so a hostile or broken server cannot make any of them slow or large.
/// </summary>
internal static class CatalogLimits
{
    public const int DefaultMaxTools = 1000;

    public const int DefaultMaxToolBytes = 256 * 1024;

    /// <summary>Room for a name, a small schema and the cut mark: a smaller limit could leave nothing useful.</summary>
    public const int MinMaxToolBytes = 1024;

    /// <summary>Ends a description the broker cut.</summary>
    public const string Mark = " … [truncated by mcp-broker]";

    /// <summary>Warnings beyond this many are counted, not listed (a list of 10,000 oversized tools must not make status large).</summary>
    private const int MaxWarnings = 10;

    public static (IList<Tool> Kept, IReadOnlyList<string> Warnings) Apply(UpstreamModel upstream, IList<Tool> listed)
    {
        var warnings = new List<string>();
        var extra = 0;
        void Warn(string warning)
        {
            if (warnings.Count < MaxWarnings)
            {
                warnings.Add(warning);
            }
            else
            {
                extra++;
            }
        }

        var count = Math.Min(listed.Count, upstream.MaxTools);
        if (listed.Count > upstream.MaxTools)
        {
            Warn($"listed more than {upstream.MaxTools} tools ({listed.Count} seen): only the first {upstream.MaxTools} are kept; raise upstreams.{upstream.Name}.max_tools to keep more");
        }

        var kept = new List<Tool>(count);
        for (var i = 0; i < count; i++)
        {
            var tool = listed[i];
            var size = Size(tool);
            if (size <= upstream.MaxToolBytes)
            {
                kept.Add(tool);
                continue;
            }

            var over = $"tool '{Shorten(tool.Name)}' has a definition of {size} bytes, over upstreams.{upstream.Name}.max_tool_bytes ({upstream.MaxToolBytes})";
            if (Cut(tool, upstream.MaxToolBytes) is { } cut)
            {
                kept.Add(cut);
                Warn($"{over}: its description ({Encoding.UTF8.GetByteCount(tool.Description!)} bytes) is truncated to fit");
            }
            else
            {
                Warn($"{over} even without its description: it is left out");
            }
        }

        if (extra > 0)
        {
            warnings.Add($"… and {extra} more tool(s) cut or left out the same way");
        }

        return (kept, warnings);
    }

    /// <summary>The tool with its description cut so the definition fits in <paramref name="max"/> bytes; null when nothing can make it fit.</summary>
    private static Tool? Cut(Tool tool, int max)
    {
        if (tool.Description is not { Length: > 0 } description)
        {
            return null;
        }

        var rest = Size(UpstreamTools.Copy(tool, tool.Name, Mark));
        if (rest > max)
        {
            return null;
        }

        // Characters to keep, refined from the byte budget: escapes and multi-byte characters make a character more than
        // one byte, so measure, and scale by the bytes a kept character took (a few rounds at most).
        var budget = max - rest;
        var keep = Math.Min(description.Length, budget);
        for (var round = 0; round < 8 && keep > 0; round++)
        {
            if (char.IsHighSurrogate(description[keep - 1]))
            {
                keep--;
            }

            var cut = UpstreamTools.Copy(tool, tool.Name, description[..keep] + Mark);
            var size = Size(cut);
            if (size <= max)
            {
                return cut;
            }

            keep = Math.Min(keep - 1, (int)(budget / ((double)(size - rest) / keep)));
        }

        return null;
    }

    /// <summary>The definition's size as a client receives it: its JSON, with what the SDK's type does not model, in UTF-8 bytes.</summary>
    public static int Size(Tool tool) => Encoding.UTF8.GetByteCount(WireExtras.Serialize(tool, withExtras: true).ToJsonString());

    /// <summary>A name as a warning quotes it: a name is the upstream's to choose, and may itself be huge.</summary>
    private static string Shorten(string name) => name.Length <= 80 ? name : name[..80] + "…";
}
