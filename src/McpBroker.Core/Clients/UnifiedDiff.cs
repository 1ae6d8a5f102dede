using System.Text;
using DiffPlex;

namespace McpBroker.Clients;

/// <summary>
/// A unified diff (the <c>diff -u</c> format people and tools read) of two texts. DiffPlex finds the changed line
/// blocks; it has no unified-format writer, so the hunks with their context lines are laid out here.
/// </summary>
internal static class UnifiedDiff
{
    /// <summary>The diff with credential-looking values shown as <c>***</c> (see <see cref="Config.SecretHeuristics.RedactLine"/>).</summary>
    public static string FormatRedacted(string? before, string after, string beforeLabel, string afterLabel) =>
        string.Join('\n', Format(before, after, beforeLabel, afterLabel).Split('\n').Select(Config.SecretHeuristics.RedactLine));

    public static string Format(string? before, string after, string beforeLabel, string afterLabel, int context = 3)
    {
        var result = Differ.Instance.CreateDiffs(before ?? "", after, false, false, Lines.Instance);
        var a = result.PiecesOld;
        var b = result.PiecesNew;
        var blocks = result.DiffBlocks;
        if (blocks.Count == 0)
        {
            return "";
        }

        var diff = new StringBuilder();
        diff.Append("--- ").Append(before is null ? "/dev/null" : beforeLabel).Append('\n');
        diff.Append("+++ ").Append(afterLabel).Append('\n');
        var first = 0;
        while (first < blocks.Count)
        {
            // A hunk: blocks whose gaps are at most two contexts wide, so their context lines would touch.
            var last = first;
            while (last + 1 < blocks.Count && blocks[last + 1].DeleteStartA - (blocks[last].DeleteStartA + blocks[last].DeleteCountA) <= 2 * context)
            {
                last++;
            }

            var startA = Math.Max(0, blocks[first].DeleteStartA - context);
            var endA = Math.Min(a.Count, blocks[last].DeleteStartA + blocks[last].DeleteCountA + context);
            var startB = startA + (blocks[first].InsertStartB - blocks[first].DeleteStartA);
            var endB = endA + (blocks[last].InsertStartB + blocks[last].InsertCountB - (blocks[last].DeleteStartA + blocks[last].DeleteCountA));
            diff.Append($"@@ -{Range(startA, endA - startA)} +{Range(startB, endB - startB)} @@\n");
            var position = startA;
            for (var i = first; i <= last; i++)
            {
                var block = blocks[i];
                for (; position < block.DeleteStartA; position++)
                {
                    diff.Append(' ').Append(a[position]).Append('\n');
                }

                for (var d = 0; d < block.DeleteCountA; d++)
                {
                    diff.Append('-').Append(a[block.DeleteStartA + d]).Append('\n');
                }

                for (var n = 0; n < block.InsertCountB; n++)
                {
                    diff.Append('+').Append(b[block.InsertStartB + n]).Append('\n');
                }

                position = block.DeleteStartA + block.DeleteCountA;
            }

            for (; position < endA; position++)
            {
                diff.Append(' ').Append(a[position]).Append('\n');
            }

            first = last + 1;
        }

        return diff.ToString();
    }

    /// <summary>A hunk range: one-based start and length; an empty range names the line before it.</summary>
    private static string Range(int start, int length) => length == 0 ? $"{start},0" : length == 1 ? $"{start + 1}" : $"{start + 1},{length}";

    /// <summary>Lines without their '\n' (a '\r' stays, so a line-ending change shows); a final line break ends the last line rather than starting an empty one.</summary>
    private sealed class Lines : IChunker
    {
        public static readonly Lines Instance = new();

        public IReadOnlyList<string> Chunk(string text) =>
            text.Length == 0 ? [] : (text.EndsWith('\n') ? text[..^1] : text).Split('\n');
    }
}
