using System.Text;
using System.Text.Json;

namespace McpBroker.Shared;

/// <summary>
/// What is wrong with a message, as JSON-RPC 2.0 names it: the code, a sentence, the id to answer with (raw JSON; null
/// when the message has no id that could be read, as the specification asks; a line that breaks off after its id
/// keeps it), and whether it is answered at all (a
/// malformed response is not: JSON-RPC never answers responses).
/// </summary>
internal readonly record struct JsonRpcFault(int Code, string Message, string? Id, bool Answer = true);

/// <summary>
/// Tells a well-formed JSON-RPC message from every other line a reader may get: not JSON (-32700), a batch, a value that
/// is no object, an id that is neither a string nor an integer, a missing or wrong <c>jsonrpc</c>, a method that is no
/// string, or neither method nor outcome (-32600). The readers call it only for a line their parser refused, so the
/// usual message is parsed once.
/// </summary>
internal static class JsonRpcCheck
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;

    /// <summary>The fault of one line, or null when it is one JSON-RPC message of a valid shape.</summary>
    public static JsonRpcFault? Check(ReadOnlySpan<byte> line)
    {
        if (!IsJson(line))
        {
            // The id when it came before the break (as the MCP SDK does), so the sender's request fails now, not at its timeout.
            var start = MessageInfo.Inspect(line);
            return new JsonRpcFault(ParseError, "Parse error: the message is not valid JSON (one JSON-RPC message per line, UTF-8)", start.Id, !start.IsResponse);
        }

        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = int.MaxValue });
        reader.Read();
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            return new JsonRpcFault(InvalidRequest, "Invalid Request: batches (JSON arrays) are not supported since MCP 2025-06-18; send each message on its own", null);
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return new JsonRpcFault(InvalidRequest, "Invalid Request: a JSON-RPC message is a JSON object", null);
        }

        bool hasId = false, idValid = false, hasMethod = false, methodValid = false, hasOutcome = false, versionValid = false;
        string? id = null;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                // Names compared as bytes: GetString would throw on a name that is not valid UTF-8.
                var key = reader.ValueTextEquals("jsonrpc"u8) ? 1 : reader.ValueTextEquals("id"u8) ? 2 : reader.ValueTextEquals("method"u8) ? 3
                    : reader.ValueTextEquals("result"u8) || reader.ValueTextEquals("error"u8) ? 4 : 0;
                reader.Read();
                switch (key)
                {
                    case 1:
                        versionValid = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("2.0"u8);
                        break;
                    case 2:
                        hasId = true;
                        (idValid, id) = reader.TokenType switch
                        {
                            JsonTokenType.String => (true, "\"" + Encoding.UTF8.GetString(reader.ValueSpan) + "\""),
                            JsonTokenType.Number when reader.TryGetInt64(out var number) => (true, number.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                            _ => (false, null),
                        };
                        break;
                    case 3:
                        hasMethod = true;
                        methodValid = reader.TokenType == JsonTokenType.String;
                        break;
                    case 4:
                        hasOutcome = true;
                        break;
                }

                reader.Skip();
            }
        }
        catch (InvalidOperationException)
        {
            // A name or value escaping half a surrogate pair is JSON, but no text: nothing in it can be trusted.
            return new JsonRpcFault(InvalidRequest, "Invalid Request: the message holds an escape that is not valid Unicode (a lone surrogate)", null);
        }

        // A response is never answered, however malformed: its sender is not waiting for anything.
        var answer = hasMethod || !hasOutcome;
        if (hasId && !idValid)
        {
            return new JsonRpcFault(InvalidRequest, "Invalid Request: the id must be a string or an integer (not null, a fraction, an object, an array or a boolean)", null, answer);
        }

        if (!versionValid)
        {
            return new JsonRpcFault(InvalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"", id, answer);
        }

        if (hasMethod && !methodValid)
        {
            return new JsonRpcFault(InvalidRequest, "Invalid Request: the method must be a string", id, answer);
        }

        if (!hasMethod && !hasOutcome)
        {
            return new JsonRpcFault(InvalidRequest, "Invalid Request: a message needs a method (a request or notification) or a result or error (a response)", id, answer);
        }

        return null;
    }

    /// <summary>The error response for a fault (one line, no newline).</summary>
    public static string ErrorResponse(JsonRpcFault fault) => ErrorResponse(fault.Id, fault.Code, fault.Message);

    /// <summary>A JSON-RPC error response; <paramref name="id"/> is raw JSON (null writes <c>null</c>).</summary>
    public static string ErrorResponse(string? id, int code, string message) =>
        $$$"""{"jsonrpc":"2.0","id":{{{id ?? "null"}}},"error":{"code":{{{code}}},"message":{{{JsonSerializer.Serialize(message, SharedJsonContext.Default.String)}}}}}""";

    private static bool IsJson(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = int.MaxValue });
            while (reader.Read())
            {
            }

            return reader.BytesConsumed > 0 && reader.CurrentDepth == 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class SharedJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
