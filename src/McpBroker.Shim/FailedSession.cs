using System.Text.Encodings.Web;
using System.Text.Json;

namespace McpBroker.Shim;

/// <summary>
/// What the shim does when it cannot give the client a broker session (an unknown profile, a refused token, a config
/// the daemon cannot load, a daemon that will not start): it stays and answers every request with a JSON-RPC error whose
/// message is the reason and its fix, until the client closes stdin. Clients show an <c>initialize</c> error where they
/// show a server's state (Claude Code's <c>mcp list</c> and <c>/mcp</c>, Gemini CLI's "Error connecting to MCP server");
/// a shim that only exits leaves them with "connection closed" and the reason in a stderr nobody reads.
/// </summary>
internal static class FailedSession
{
    /// <summary>JSON-RPC's "internal error": the server exists but cannot serve; clients print the code before the message.</summary>
    private const int Code = -32603;

    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Answers the client's requests with <paramref name="reason"/> until its input ends; returns <paramref name="exitCode"/>.</summary>
    public static int Serve(Stream stdin, Stream stdout, string reason, int exitCode)
    {
        Program.Fail(reason, exitCode);
        var message = "mcp-broker: " + reason;
        var reader = new LineReader(stdin, Shared.LineBuffer.DefaultLimit);
        try
        {
            for (var line = reader.ReadLine(); line.Kind != Shared.LineKind.End; line = reader.ReadLine())
            {
                // Requests only: a notification wants no answer, a response (to a request we never sent) is dropped.
                var info = line.Kind == Shared.LineKind.Oversized ? Shared.MessageInfo.InspectDropped(line) : Shared.MessageInfo.Inspect(line.Bytes.Span);
                if (info is { Method: not null, Id: { } id })
                {
                    stdout.Write(Error(id, message));
                }
            }
        }
        catch (IOException)
        {
            // The client went away.
        }

        return exitCode;
    }

    /// <summary>One error response line; <paramref name="id"/> is the request's id as raw JSON.</summary>
    internal static byte[] Error(string id, string message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256 + message.Length);
        using (var writer = new Utf8JsonWriter(buffer, s_options))
        {
            writer.WriteStartObject();
            writer.WriteString("jsonrpc", "2.0");
            writer.WritePropertyName("id");
            writer.WriteRawValue(id, skipInputValidation: true);
            writer.WriteStartObject("error");
            writer.WriteNumber("code", Code);
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        System.Buffers.BuffersExtensions.Write(buffer, "\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
