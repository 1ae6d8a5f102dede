using McpBroker.Config;
using ModelContextProtocol.Client;

namespace McpBroker.Upstreams;

/// <summary>One live connection: an MCP client over a process's pipes (stdio) or over HTTP (no process).</summary>
internal sealed class UpstreamInstance(McpClient client, UpstreamProcess? process, string label) : IAsyncDisposable
{
    private readonly CancellationTokenSource _dead = new();

    public McpClient Client => client;

    public bool Remote => process is null;

    public int? Pid => process?.Pid;

    /// <summary>The process's marker variable (<see cref="ProcessTree"/>); null for a remote instance.</summary>
    public string? Marker => process?.Marker;

    /// <summary>What logs name it by: "pid N" or the URL.</summary>
    public string Label => label;

    /// <summary>Completes when the process exits, or when the HTTP session or connection ends.</summary>
    public Task Ended { get; } = process?.Exited ?? client.Completion;

    public bool SessionExpired => process is null && client.Completion is { IsCompletedSuccessfully: true } c
        && c.Result is HttpClientCompletionDetails { HttpStatusCode: System.Net.HttpStatusCode.NotFound };

    /// <summary>Cancelled when the instance has ended.</summary>
    public CancellationToken Dead => _dead.Token;

    public Task MarkDeadAsync() => _dead.CancelAsync();

    public async Task<bool> EndedWithin(TimeSpan timeout)
    {
        try
        {
            await Ended.WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>How it ended (or that it runs), in words a user can act on; secrets masked.</summary>
    public string Describe()
    {
        if (process is not null)
        {
            return $"the process {process.Describe()}";
        }

        if (client.Completion is not { IsCompleted: true } completion)
        {
            return $"the connection to {label} is open";
        }

        var details = completion.IsCompletedSuccessfully ? completion.Result : null;
        var why = details switch
        {
            HttpClientCompletionDetails { HttpStatusCode: System.Net.HttpStatusCode.NotFound } => "the server ended the session (HTTP 404)",
            HttpClientCompletionDetails { HttpStatusCode: { } code } => $"HTTP {(int)code} ({code})",
            { Exception: { } ex } => ex.Message,
            _ => "closed",
        };
        return SecretMask.Mask($"the connection to {label} ended: {why}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception)
        {
            // Whatever the client's shutdown threw, the process and its pipes must still be released.
        }
        finally
        {
            if (process is not null)
            {
                await process.DisposeAsync();
            }
        }
    }
}
