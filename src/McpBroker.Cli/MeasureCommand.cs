using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Measure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Spectre.Console;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker measure</c>: what a profile's tools/list costs a model, against what its upstreams' raw tools
/// would cost. Both lists come from real sessions with the daemon (started if needed), so they are exactly what a
/// client receives: "after" is the profile's own tools/list, "before" the same profile's raw view.
/// </summary>
internal static class MeasureCommand
{
    public static async Task<int> RunAsync(string? configOption, string profileName, string? tokenFile, bool json, CancellationToken ct)
    {
        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        if (!model.Profiles.TryGetValue(profileName, out var profile))
        {
            Console.Error.WriteLine($"mcp-broker: no profile named '{profileName}' in {model.SourcePath}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return 1;
        }

        if (await DaemonCommands.DetachAsync(model, quiet: true) != 0)
        {
            return 1;
        }

        await CatalogFill.ShowOnTerminalAsync(model, profileName, json, ct);
        var token = tokenFile is null ? null : (await File.ReadAllTextAsync(tokenFile, ct)).Trim();
        IList<Tool> before, after;
        JsonNode? status;
        try
        {
            await using var raw = await ConnectAsync(model, profileName, token, "raw", ct);
            await using var own = await ConnectAsync(model, profileName, token, null, ct);
            before = [.. (await raw.ListToolsAsync(cancellationToken: ct)).Select(t => t.ProtocolTool)];
            after = [.. (await own.ListToolsAsync(cancellationToken: ct)).Select(t => t.ProtocolTool)];
            var answer = await raw.CallToolAsync(profile.NameStyle == ToolNameStyle.Snake ? "broker_status" : "broker.status", cancellationToken: ct);
            status = JsonNode.Parse(answer.Content.OfType<TextContentBlock>().First().Text);
        }
        catch (Exception ex) when (ex is MeasureException or IOException or SocketException or ModelContextProtocol.McpException)
        {
            Console.Error.WriteLine($"mcp-broker: {ex.Message}");
            return 1;
        }

        var b = ContextCost.Of([.. before]);
        var a = ContextCost.Of([.. after]);
        var unlisted = status?["upstreams"]?.AsArray()
            .Where(u => u?["tools"] is null)
            .Select(u => $"{u!["name"]}{(u["last_error"] is { } e ? $" ({e})" : "")}")
            .ToList() ?? [];
        if (json)
        {
            var result = new JsonObject
            {
                ["profile"] = profileName,
                ["before"] = Json(b),
                ["after"] = Json(a),
                ["reduction_pct"] = new JsonObject
                {
                    ["tools"] = ContextCost.Reduction(b.Tools, a.Tools),
                    ["bytes"] = ContextCost.Reduction(b.Bytes, a.Bytes),
                    ["tokens"] = ContextCost.Reduction(b.Tokens, a.Tokens),
                },
            };
            if (unlisted.Count > 0)
            {
                result["not_listed"] = new JsonArray([.. unlisted.Select(u => (JsonNode)u)]);
            }

            Console.WriteLine(result.ToJsonString());
        }
        else
        {
            var table = new Table().AddColumns("", "tools", "bytes", "o200k tokens");
            table.AddRow("before (raw upstream tools)", $"{b.Tools}", $"{b.Bytes:N0}", $"{b.Tokens:N0}");
            table.AddRow($"after (profile '{Markup.Escape(profileName)}' tools/list)", $"{a.Tools}", $"{a.Bytes:N0}", $"{a.Tokens:N0}");
            table.AddRow("reduction", $"{ContextCost.Reduction(b.Tools, a.Tools)}%", $"{ContextCost.Reduction(b.Bytes, a.Bytes)}%", $"{ContextCost.Reduction(b.Tokens, a.Tokens)}%");
            AnsiConsole.Write(table);
            foreach (var u in unlisted)
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]not counted[/]: upstream {u} could not be listed");
            }
        }

        return 0;
    }

    private static JsonObject Json(Cost c) => new() { ["tools"] = c.Tools, ["bytes"] = c.Bytes, ["tokens"] = c.Tokens };

    /// <summary>An MCP session with the daemon over its socket, as the shim would open it (hello, answer, then MCP).</summary>
    private static async Task<McpClient> ConnectAsync(BrokerModel model, string profile, string? token, string? view, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(model.Runtime.SocketPath), ct);
            var stream = new NetworkStream(socket, ownsSocket: true);
            var hello = new JsonObject { ["mcp_broker"] = 1, ["profile"] = profile, ["client"] = "mcp-broker-measure", ["view"] = view, ["token"] = token };
            await stream.WriteAsync(Encoding.UTF8.GetBytes(hello.ToJsonString() + "\n"), ct);
            var line = new List<byte>();
            var one = new byte[1];
            while (await stream.ReadAsync(one, ct) == 1 && one[0] != (byte)'\n')
            {
                line.Add(one[0]);
            }

            var welcome = JsonNode.Parse(line.Count == 0 ? "{}"u8.ToArray() : [.. line]);
            if (welcome?["ok"]?.GetValue<bool>() != true)
            {
                throw new MeasureException($"the daemon refused the session: {welcome?["error"]?["message"] ?? "it closed the connection"}");
            }

            return await McpClient.CreateAsync(new StreamClientTransport(stream, stream), new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "mcp-broker-measure", Version = BrokerInfo.Version },
            }, cancellationToken: ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private sealed class MeasureException(string message) : Exception(message);
}
