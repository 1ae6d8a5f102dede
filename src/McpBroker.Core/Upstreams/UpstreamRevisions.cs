using System.Text.Json;
using McpBroker.Config;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// Which protocol revision one upstream speaks: remembered across starts (<see cref="ProtocolMemory"/>), offered again
/// on the next start when it is a session-era one, and forgotten when the upstream refuses it (it was upgraded or
/// replaced), so the next start negotiates afresh. Versions are negotiated, never pinned.
/// </summary>
internal sealed class UpstreamRevisions(UpstreamModel model, ProtocolMemory? memory, ILogger logger)
{
    /// <summary>The revision it spoke last (this run, or remembered from the last); null when unknown.</summary>
    public string? Current { get; private set; } = memory?.Recall(model);

    /// <summary>The revisions the MCP SDK (2.4) speaks to a server: the four of the session era and the stateless one.</summary>
    public static readonly string[] SpokenRevisions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", ProtocolMemory.StatelessRevision];

    /// <summary>
    /// The revision to start with: the one a session-era server answered last time (so <c>initialize</c> is sent at once,
    /// without a <c>server/discover</c> probe it may ignore until the probe times out), or null to negotiate.
    /// </summary>
    public string? RememberedSessionRevision() =>
        memory?.Recall(model) is { } known && !ProtocolMemory.IsStateless(known) ? known : null;

    /// <summary>Forgets the refused revision: the next connection negotiates (null). Returns that null.</summary>
    public string? Reprobe(string refused)
    {
        UpstreamSupervisor.Log.Reprobing(logger, model.Name, refused);
        memory?.Forget(model);
        Current = null;
        return null;
    }

    /// <summary>Remembers what a started instance negotiated.</summary>
    public void Negotiated(McpClient client)
    {
        if (client.NegotiatedProtocolVersion is { Length: > 0 } negotiated)
        {
            Current = negotiated;
            memory?.Remember(model, negotiated,
                JsonSerializer.SerializeToNode(client.ServerCapabilities, McpJsonUtilities.DefaultOptions.GetTypeInfo<ServerCapabilities>()),
                client.ServerInstructions);
        }
    }

    /// <summary>Forgets the remembered revision (an operator's restart): the next start probes afresh.</summary>
    public void Forget() => memory?.Forget(model);

    /// <summary>
    /// Whether a start failed because the upstream would not speak the revision it spoke last time (it was upgraded, or
    /// replaced): the SDK refuses an <c>initialize</c> answer that differs from a set version with an
    /// <see cref="McpException"/> saying "protocol version mismatch", and a server that does not support a set version
    /// with one saying it "does not support the requested protocol version". The SDK gives no code for either, so its
    /// message is matched here, in one place.
    /// </summary>
    public static bool Refused(Exception ex) =>
        ex is McpException { Message: var message }
        && (message.Contains("protocol version mismatch", StringComparison.OrdinalIgnoreCase)
            || message.Contains("does not support the requested protocol version", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The reason for an upstream that answered <c>initialize</c> with a revision the SDK does not speak, naming both
    /// sides; null for any other failure. The SDK says "Server protocol version mismatch. Expected X, got Y".
    /// </summary>
    public static string? Unspoken(Exception ex) =>
        ex is McpException { Message: var message } && s_mismatch.Match(message) is { Success: true } m
            ? $"it answered initialize with protocol version '{m.Groups["got"].Value}', which the broker does not speak "
              + $"(it offered {m.Groups["offered"].Value}, and speaks {string.Join(", ", SpokenRevisions)}); update the server, or ask its authors which revision it implements"
            : null;

    private static readonly System.Text.RegularExpressions.Regex s_mismatch =
        new(@"protocol version mismatch\. Expected (?<offered>\S+), got (?<got>[^\s,]+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
}
