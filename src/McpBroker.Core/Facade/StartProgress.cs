using System.Text.Json.Nodes;

namespace McpBroker.Facade;

/// <summary>
/// While a request of a client that gave a <c>progressToken</c> waits on upstreams that are starting (a first search,
/// a call to a stopped upstream), a <c>notifications/progress</c> every <see cref="Interval"/>: which upstreams, and for
/// how long — so a 14 s npx download is not 14 s of silence. Nothing is sent for a wait shorter than one interval.
/// </summary>
/// <remarks>
/// The values run 0.5, 0.75, 0.875 … without a total: increasing, as the spec requires, and below 1, where an upstream's
/// own progress for the same call (relayed as it came, after the start) usually begins. An upstream that counts from 0
/// would go back: the session's progress sink passes on only values above the last one it sent (BrokerSession.ProgressTo).
/// </remarks>
internal static class StartProgress
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Awaits <paramref name="work"/>; meanwhile, each interval, tells <paramref name="progress"/> (when not null) the
    /// upstreams <paramref name="starting"/> names, if any.
    /// </summary>
    public static async Task<T> WhileAsync<T>(Task<T> work, Func<IReadOnlyList<string>> starting, Func<JsonObject, ValueTask>? progress,
        TimeProvider time, CancellationToken ct)
    {
        if (progress is null || work.IsCompleted)
        {
            return await work;
        }

        var began = time.GetTimestamp();
        var value = 0.0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            while (true)
            {
                // A cancelled request ends the notes at once; the work sees the same token and ends the way it ends.
                var tick = Task.Delay(Interval, time, stop.Token);
                if (await Task.WhenAny(work, tick) == work || tick.IsCanceled)
                {
                    break;
                }

                if (starting() is not { Count: > 0 } names)
                {
                    continue;
                }

                value = value == 0 ? 0.5 : value + ((1 - value) / 2);
                var seconds = time.GetElapsedTime(began).TotalSeconds;
                await SendAsync(progress, new JsonObject
                {
                    ["progress"] = value,
                    ["message"] = $"starting {string.Join(", ", names)}: {seconds:0} s"
                        + (names.Any(n => n.EndsWith(')')) && seconds >= 3 ? " (a package runner downloads the server on its first start)" : ""),
                });
            }
        }
        finally
        {
            await stop.CancelAsync();
        }

        return await work;
    }

    /// <summary>An upstream's name as a note shows it: with its package runner, if one starts it (npx fetches the package on a first start).</summary>
    public static string Label(string upstream, string? command) =>
        Path.GetFileNameWithoutExtension(command ?? "") is "npx" or "uvx" or "bunx" or "pnpx" or "pipx" ? $"{upstream} ({Path.GetFileNameWithoutExtension(command)})" : upstream;

    private static async ValueTask SendAsync(Func<JsonObject, ValueTask> progress, JsonObject parameters)
    {
        try
        {
            await progress(parameters);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The session that asked has gone; the request ends on its own.
        }
    }
}
