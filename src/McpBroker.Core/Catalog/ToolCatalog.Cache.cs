using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>
/// The disk cache under <c>cache/tools/</c>: each upstream's list as it listed it, trusted only for the same fingerprint
/// and limits, so search works after a daemon restart without starting anything.
/// </summary>
internal sealed partial class ToolCatalog
{
    private string CachePath(UpstreamModel upstream) => Path.Combine(_cacheDir, upstream.Name + ".json");

    private UpstreamTools? ReadCache(UpstreamModel upstream)
    {
        var path = CachePath(upstream);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.GetProperty("fingerprint").GetString() != upstream.Fingerprint
                || (root.TryGetProperty("limits", out var limits) && (limits.GetProperty("max_tools").GetInt32() != upstream.MaxTools
                    || limits.GetProperty("max_tool_bytes").GetInt32() != upstream.MaxToolBytes)))
            {
                return null; // another server, or a list cut to other limits: listed afresh when needed
            }

            // Each tool as the upstream wrote it: the typed tool, with what the SDK's type does not model kept beside it.
            var tools = WireExtras.Items<Tool>(JsonNode.Parse(root.GetProperty("result").GetRawText())!.AsObject(), "tools");
            var warnings = root.TryGetProperty("warnings", out var said) ? said.EnumerateArray().Select(w => w.GetString() ?? "").ToList() : null;
            return Build(upstream, tools, root.GetProperty("fetched_at").GetDateTimeOffset(), warnings);
        }
        catch (Exception ex) when (ex is JsonException or IOException or KeyNotFoundException or InvalidOperationException or McpException)
        {
            LogCacheUnreadable(upstream.Name, ex.Message);
            return null;
        }
    }

    private void WriteCache(UpstreamTools entry)
    {
        try
        {
            Platform.PrivateFiles.CreateDirectory(_cacheDir);
            Platform.PrivateFiles.WriteAtomic(CachePath(entry.Upstream), stream =>
            {
                using var writer = new Utf8JsonWriter(stream);
                writer.WriteStartObject();
                writer.WriteString("fingerprint", entry.Upstream.Fingerprint);
                writer.WriteString("fetched_at", entry.FetchedAt);
                writer.WriteStartObject("limits");
                writer.WriteNumber("max_tools", entry.Upstream.MaxTools);
                writer.WriteNumber("max_tool_bytes", entry.Upstream.MaxToolBytes);
                writer.WriteEndObject();
                writer.WriteStartArray("warnings");
                foreach (var warning in entry.Warnings)
                {
                    writer.WriteStringValue(warning);
                }

                writer.WriteEndArray();
                writer.WritePropertyName("result");
                new JsonObject { ["tools"] = new JsonArray([.. entry.Listed.Select(t => (JsonNode)WireExtras.Serialize(t, withExtras: true))]) }.WriteTo(writer);
                writer.WriteEndObject();
            });
        }
        catch (IOException ex)
        {
            LogCacheUnwritable(entry.Upstream.Name, ex.Message);
        }
    }
}
