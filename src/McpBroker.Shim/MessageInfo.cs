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
                if (reader.ValueTextEquals("method"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    method = reader.GetString();
                }
                else if (reader.ValueTextEquals("id"u8) && reader.Read())
                {
                    id = reader.TokenType switch
                    {
                        JsonTokenType.String => "\"" + Encoding.UTF8.GetString(reader.ValueSpan) + "\"",
                        JsonTokenType.Number => Encoding.UTF8.GetString(reader.ValueSpan),
                        _ => null,
                    };
                }
                else
                {
                    response |= reader.ValueTextEquals("result"u8) || reader.ValueTextEquals("error"u8);
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON-RPC we can read: forwarded untouched, not tracked.
        }

        return new MessageInfo(method, id, response && method is null);
    }
}
