using ModelContextProtocol;
using ModelContextProtocol.Client;

namespace McpBroker.Upstreams;

/// <summary>
/// After a call timed out: is the upstream still answering? A shared upstream serving others is kept unless it is hung,
/// so one slow tool does not restart a server everyone uses.
/// </summary>
internal static class HealthCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>True when the upstream answered ping (or, on protocol 2026-07-28, which has no ping, a listing) within <see cref="Timeout"/> of <paramref name="time"/>.</summary>
    public static async Task<bool> AnswersAsync(McpClient client, TimeProvider time)
    {
        try
        {
            using var cts = new CancellationTokenSource(Timeout, time);
            try
            {
                await client.PingAsync(cancellationToken: cts.Token);
            }
            catch (McpProtocolException ex) when (ex.ErrorCode == McpErrorCode.MethodNotFound)
            {
                // Protocol 2026-07-28 has no ping (SDK 2.4 refuses it as an unknown method): a listing answered is as good.
                await client.ListToolsAsync(cancellationToken: cts.Token);
            }

            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or McpException or IOException or ObjectDisposedException)
        {
            return false;
        }
    }
}
