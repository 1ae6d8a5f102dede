using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;

namespace McpBroker.Config;

/// <summary>
/// The one masking step everything that leaves the daemon passes through: what clients are sent (tool results and
/// errors, resources, prompts, notifications, requests — an outgoing message filter of every session), every log line
/// (the daemon's and the SDK's, and each upstream's stderr), status (CLI, <c>broker.status</c>, <c>top</c>, the status
/// page) and the control requests' answers. It replaces every secret value the daemon has read — each <c>env_from</c>
/// and <c>env_files</c> value, each resolved header that reads one, OAuth tokens and client secrets — with
/// <see cref="Placeholder"/>. Values shorter than <see cref="MinimumLength"/> are not masked: a value like "1" or
/// "true" would be masked out of every text that contains it.
/// </summary>
/// <remarks>
/// Process-wide, because a secret read for one upstream must not reach anyone through another (a filesystem server
/// can read the secrets folder, an error can quote a header): every value ever read is masked everywhere, for the life
/// of the process (the newest <see cref="MaxValues"/>). Values are matched exactly, as written; an encoded form
/// (base64, URL-escaped) is not recognised.
/// </remarks>
internal static class SecretMask
{
    public const string Placeholder = "***";

    public const int MinimumLength = 6;

    /// <summary>How many distinct values are kept (the oldest are forgotten first): rotation must not grow the set without bound.</summary>
    public const int MaxValues = 1024;

    private static readonly Lock s_gate = new();
    private static readonly List<string> s_order = [];
    private static Known s_known = new([], null);

    /// <summary>The values, longest first (so a value that contains another is masked whole), and their searcher.</summary>
    private sealed record Known(string[] Values, SearchValues<string>? Search);

    /// <summary>Whether any value is known: when none, every mask is a no-op that allocates nothing.</summary>
    public static bool Active => Volatile.Read(ref s_known).Search is not null;

    /// <summary>Makes <paramref name="values"/> masked from now on (values shorter than <see cref="MinimumLength"/> are ignored).</summary>
    public static void Add(IEnumerable<string?> values)
    {
        lock (s_gate)
        {
            var added = false;
            foreach (var value in values)
            {
                if (value is { Length: >= MinimumLength } && !s_order.Contains(value, StringComparer.Ordinal))
                {
                    s_order.Add(value);
                    added = true;
                }
            }

            if (!added)
            {
                return;
            }

            if (s_order.Count > MaxValues)
            {
                s_order.RemoveRange(0, s_order.Count - MaxValues);
            }

            var sorted = s_order.OrderByDescending(v => v.Length).ToArray();
            Volatile.Write(ref s_known, new Known(sorted, SearchValues.Create(sorted, StringComparison.Ordinal)));
        }
    }

    public static void Add(params string?[] values) => Add((IEnumerable<string?>)values);

    /// <summary>The text with every known secret replaced by <see cref="Placeholder"/>; the same instance when there is none in it.</summary>
    public static string Mask(string text)
    {
        var known = Volatile.Read(ref s_known);
        if (known.Search is null || text.Length < MinimumLength)
        {
            return text;
        }

        var at = text.AsSpan().IndexOfAny(known.Search);
        if (at < 0)
        {
            return text;
        }

        var masked = new StringBuilder(text.Length);
        var start = 0;
        while (at >= 0)
        {
            at += start;
            var length = known.Values.First(v => text.AsSpan(at).StartsWith(v, StringComparison.Ordinal)).Length;
            masked.Append(text, start, at - start).Append(Placeholder);
            start = at + length;
            at = text.AsSpan(start).IndexOfAny(known.Search);
        }

        return masked.Append(text, start, text.Length - start).ToString();
    }

    /// <summary>Masks every string (values and property names) of a JSON tree in place; returns the tree (a new node when the root itself was a masked string).</summary>
    public static JsonNode? Mask(JsonNode? node)
    {
        if (!Active)
        {
            return node;
        }

        switch (node)
        {
            case JsonObject obj:
                for (var i = 0; i < obj.Count; i++)
                {
                    var (key, value) = obj.GetAt(i);
                    var maskedValue = Mask(value);
                    var maskedKey = Mask(key);
                    if (!ReferenceEquals(maskedKey, key) && !obj.ContainsKey(maskedKey))
                    {
                        obj.SetAt(i, null);
                        obj.SetAt(i, maskedKey, maskedValue);
                    }
                    else if (!ReferenceEquals(maskedValue, value))
                    {
                        obj.SetAt(i, maskedValue);
                    }
                }

                return obj;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    var item = array[i];
                    if (Mask(item) is var masked && !ReferenceEquals(masked, item))
                    {
                        array[i] = masked;
                    }
                }

                return array;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String && value.TryGetValue<string>(out var text):
                var maskedText = Mask(text);
                return ReferenceEquals(maskedText, text) ? value : JsonValue.Create(maskedText);
            default:
                return node;
        }
    }

    /// <summary>Masks a message on its way to a client: a result, an error (message and data), a request's or notification's params.</summary>
    public static void Mask(JsonRpcMessage message)
    {
        if (!Active)
        {
            return;
        }

        switch (message)
        {
            case JsonRpcResponse response:
                response.Result = Mask(response.Result);
                break;
            case JsonRpcError error:
                error.Error.Message = Mask(error.Error.Message);
                error.Error.Data = error.Error.Data switch
                {
                    JsonNode data => Mask(data),
                    JsonElement data => Mask(JsonNode.Parse(data.GetRawText())),
                    string data => Mask(data),
                    var other => other,
                };
                break;
            case JsonRpcRequest request:
                request.Params = Mask(request.Params);
                break;
            case JsonRpcNotification notification:
                notification.Params = Mask(notification.Params);
                break;
        }
    }

    /// <summary>Reads every secret an upstream is configured with, so they are masked before anything could carry them; unreadable ones are skipped (its start reports them).</summary>
    public static void Learn(IEnumerable<UpstreamModel> upstreams)
    {
        foreach (var upstream in upstreams)
        {
            try
            {
                SecretFile.ResolveAll(upstream);
            }
            catch (SecretUnavailableException)
            {
                // Reported where it matters: when the upstream starts.
            }
        }
    }
}
