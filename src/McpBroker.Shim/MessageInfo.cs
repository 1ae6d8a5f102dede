using System.Text;
using System.Text.Json;

namespace McpBroker.Shim;

/// <summary>
/// The top-level <c>method</c> and <c>id</c> of one JSON-RPC message (the id as raw JSON, ready to write back), and
/// whether it is a response. Nothing else is read, and the message is forwarded as it came.
/// </summary>
internal readonly record struct MessageInfo(string? Method, string? Id, bool IsResponse)
{
    public static MessageInfo Inspect(ReadOnlySpan<byte> line)
    {
        string? method = null, id = null;
        var response = false;
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 256 });
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
                            JsonTokenType.Number => Encoding.UTF8.GetString(reader.ValueSpan),
                            _ => null,
                        };
                        break;
                    case Key.Outcome:
                        response = true;
                        break;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Not JSON-RPC we can read: forwarded untouched, not tracked.
        }

        return new MessageInfo(method, id, response && method is null);
    }

    private enum Key
    {
        Other,
        Method,
        Id,
        Outcome,
    }
}
