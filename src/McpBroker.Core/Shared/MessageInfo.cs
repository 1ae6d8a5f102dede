// Compiled into both the broker and the shim.
using System.Text;
using System.Text.Json;

namespace McpBroker.Shared;

/// <summary>
/// The top-level <c>method</c> and <c>id</c> of one JSON-RPC message (the id as raw JSON, ready to write back), and
/// whether it is a response. Nothing else is read, and the message is forwarded as it came. An id is a string or an
/// integer, as JSON-RPC and MCP allow; any other value counts as none.
/// </summary>
internal readonly record struct MessageInfo(string? Method, string? Id, bool IsResponse)
{
    /// <summary>
    /// What one message says at its top level. <paramref name="complete"/> false: <paramref name="line"/> is only the
    /// start of a message (one too long to keep), and what it holds before it breaks off is read.
    /// </summary>
    public static MessageInfo Inspect(ReadOnlySpan<byte> line, bool complete = true)
    {
        string? method = null, id = null;
        var response = false;
        try
        {
            var reader = new Utf8JsonReader(line, isFinalBlock: complete, new JsonReaderState(new JsonReaderOptions { MaxDepth = 256 }));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                // Which key it is, decided on the name; then its value, whatever its type. A value of a type the key
                // does not take (a number as method, an object as id) is skipped whole like any other: its inner keys
                // are not top-level ones, and ValueTextEquals is never asked of a value that is not text.
                var key = reader.ValueTextEquals("method"u8) ? Key.Method
                    : reader.ValueTextEquals("id"u8) ? Key.Id
                    : reader.ValueTextEquals("result"u8) || reader.ValueTextEquals("error"u8) ? Key.Outcome
                    : Key.Other;
                if (!reader.Read())
                {
                    break;
                }

                switch (key)
                {
                    case Key.Method:
                        method = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        break;
                    case Key.Id:
                        id = reader.TokenType switch
                        {
                            JsonTokenType.String => "\"" + Encoding.UTF8.GetString(reader.ValueSpan) + "\"",
                            JsonTokenType.Number when reader.TryGetInt64(out var number) => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            _ => null,
                        };
                        break;
                    case Key.Outcome:
                        response = true;
                        break;
                }

                if (!reader.TrySkip())
                {
                    break; // the start of a message ends inside this value
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a method that is not valid UTF-8 cannot be made a string.
            // Not JSON-RPC we can read: forwarded untouched, not tracked.
        }

        return new MessageInfo(method, id, response && method is null);
    }

    /// <summary>What can be told of a message too long to keep, from its first and last bytes.</summary>
    public static MessageInfo InspectDropped(Line line)
    {
        var start = Inspect(line.Bytes.Span, complete: false);
        return start.Id is null ? start with { Id = IdAtEnd(line.Tail.Span) } : start;
    }

    /// <summary>
    /// The top-level id of a message from its last bytes only (<paramref name="tail"/>), for a message too long to read
    /// whose writer put the id after the result (the MCP SDK writes <c>{"result":…,"id":2,"jsonrpc":"2.0"}</c>). A
    /// candidate <c>"id":</c> counts only when it and everything after it form the rest of one object — so an id of
    /// a nested object, closed by more than one brace, does not. Null when none does.
    /// </summary>
    public static string? IdAtEnd(ReadOnlySpan<byte> tail)
    {
        tail = tail.TrimEnd(" \t\r\n"u8);
        if (tail.IsEmpty || tail[^1] != (byte)'}')
        {
            return null;
        }

        Span<byte> candidate = stackalloc byte[tail.Length + 1];
        for (var at = tail.LastIndexOf("\"id\""u8); at >= 0; at = tail[..at].LastIndexOf("\"id\""u8))
        {
            var before = tail[..at].TrimEnd(" \t\r\n"u8);
            if (before.IsEmpty || before[^1] is not ((byte)',' or (byte)'{'))
            {
                continue;
            }

            candidate[0] = (byte)'{';
            tail[at..].CopyTo(candidate[1..]);
            var rest = candidate[..(tail.Length - at + 1)];
            if (IsOneObject(rest) && Inspect(rest).Id is { } id)
            {
                return id;
            }
        }

        return null;
    }

    private static bool IsOneObject(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
            reader.Read();
            reader.Skip();
            return reader.BytesConsumed == json.Length;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private enum Key
    {
        Other,
        Method,
        Id,
        Outcome,
    }
}
