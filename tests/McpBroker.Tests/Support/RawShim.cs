using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace McpBroker.Tests.Support;

/// <summary>
/// A client writing JSON-RPC lines to a shim it started and reading what comes back as it is: the answer to each request,
/// and every notification in order (so a test sees the wire, not what an SDK client makes of it).
/// </summary>
internal sealed class RawShim : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonObject> _notifications = Channel.CreateUnbounded<JsonObject>();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource<JsonObject>> _answers = new();
    private readonly Task _reading;

    private RawShim(Process process)
    {
        _process = process;
        _reading = Task.Run(ReadAsync);
    }

    public static RawShim Start(BrokerEnvironment env, string profile)
    {
        var start = new ProcessStartInfo(Repo.Shim)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["--profile", profile, "--config", env.ConfigPath, "--client", "raw"])
        {
            start.ArgumentList.Add(arg);
        }

        env.ApplyEnvironment(start);
        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return new RawShim(process);
    }

    /// <summary>Sends a request and returns its answer.</summary>
    public async Task<JsonObject> RequestAsync(JsonObject request) => await await SendAsync(request);

    /// <summary>Sends a request; the task it returns is its answer (a long-lived request's may never come).</summary>
    public async Task<Task<JsonObject>> SendAsync(JsonObject message)
    {
        var answer = _answers.GetOrAdd(message["id"]!.ToJsonString(), _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
        await _process.StandardInput.WriteLineAsync(message.ToJsonString());
        await _process.StandardInput.FlushAsync();
        return answer.Task.WaitAsync(Wait.Timeout);
    }

    /// <summary>Sends a notification.</summary>
    public async Task NotifyAsync(JsonObject message)
    {
        await _process.StandardInput.WriteLineAsync(message.ToJsonString());
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>The next notification with <paramref name="method"/> (others before it are passed over).</summary>
    public async Task<JsonObject> NotificationAsync(string method)
    {
        using var timeout = new CancellationTokenSource(Wait.Timeout);
        while (true)
        {
            var next = await _notifications.Reader.ReadAsync(timeout.Token);
            if (next["method"]?.GetValue<string>() == method)
            {
                return next;
            }
        }
    }

    private async Task ReadAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (JsonNode.Parse(line) is not JsonObject message)
            {
                continue;
            }

            if (message["method"] is null && message["id"] is { } id)
            {
                _answers.GetOrAdd(id.ToJsonString(), _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(message);
            }
            else if (message["id"] is null)
            {
                await _notifications.Writer.WriteAsync(message);
            }
        }

        _notifications.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        await _process.WaitForExitAsync().WaitAsync(Wait.Timeout);
        await _reading;
        _process.Dispose();
    }
}
