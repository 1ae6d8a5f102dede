using System.Runtime.InteropServices;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Upstreams;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace McpBroker.Daemon;

/// <summary>
/// Hot reload. The config file is watched (and SIGHUP or 'mcp-broker daemon reload' ask at once); a valid change is
/// applied by difference — only upstreams whose settings changed are restarted, added ones become available, removed
/// ones stop; sessions stay connected and follow their profile's new definition; raw sessions whose tool list changed
/// are told list_changed. An invalid change is refused: its errors go to the log and to status, and the last good config
/// stays. What cannot change under a running daemon (runtime root, HTTP front door) is kept, with a warning.
/// </summary>
internal sealed partial class ConfigReloader(ConfigState state, UpstreamRegistry registry, ToolCatalog catalog, ILogger<ConfigReloader> logger) : BackgroundService
{
    private static readonly TimeSpan s_settle = TimeSpan.FromMilliseconds(300);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SemaphoreSlim _poke = new(0, int.MaxValue);

    /// <summary>Reads the config file and applies it if it is valid; the outcome in words (and whether it applied).</summary>
    public async Task<(bool Ok, string Message)> ReloadAsync(string why)
    {
        await _gate.WaitAsync();
        try
        {
            var current = state.Current;
            var load = ConfigLoader.LoadFile(current.SourcePath);
            if (load.Model is not { } next)
            {
                var errors = load.Errors.Select(e => e.ToString()).ToList();
                state.Reject(errors);
                foreach (var error in errors)
                {
                    LogRejectedError(error);
                }

                LogRejected(current.SourcePath, why, errors.Count);
                return (false, $"the changed config {current.SourcePath} is invalid; the daemon keeps the last good one:\n  {string.Join("\n  ", errors)}");
            }

            var kept = new List<string>();
            if (next.Runtime.Root != current.Runtime.Root)
            {
                kept.Add("runtime.root");
            }

            if (next.Settings.Http != current.Settings.Http && (next.Settings.Http is null || current.Settings.Http is null
                || !next.Settings.Http.Listen.Equals(current.Settings.Http.Listen) || next.Settings.Http.TokenFile != current.Settings.Http.TokenFile
                || !next.Settings.Http.AllowedOrigins.SequenceEqual(current.Settings.Http.AllowedOrigins)))
            {
                kept.Add("broker.http");
            }

            if (next.Settings.StatusPage != current.Settings.StatusPage)
            {
                kept.Add("broker.status_page");
            }

            if (next.Telemetry != current.Telemetry)
            {
                kept.Add("telemetry");
            }

            // The listeners and exporters opened at start stay as they are until the daemon restarts.
            next = next with
            {
                Runtime = current.Runtime,
                Settings = next.Settings with { Http = current.Settings.Http, StatusPage = current.Settings.StatusPage },
                Telemetry = current.Telemetry,
            };
            SecretMask.Learn(next.Upstreams);
            var change = await registry.ApplyAsync(next);
            catalog.Apply(next, change);
            state.Apply(next);
            foreach (var setting in kept)
            {
                LogNeedsRestart(setting);
            }

            var message = change.Any
                ? $"config {next.SourcePath} applied (version {state.Version}): " + string.Join("; ", new[]
                {
                    change.Changed.Count > 0 ? $"restarted {string.Join(", ", change.Changed)}" : null,
                    change.Added.Count > 0 ? $"added {string.Join(", ", change.Added)}" : null,
                    change.Removed.Count > 0 ? $"removed {string.Join(", ", change.Removed)}" : null,
                }.OfType<string>())
                : $"config {next.SourcePath} applied (version {state.Version}): no upstream changed";
            if (kept.Count > 0)
            {
                message += $"; {string.Join(" and ", kept)} changed too, which takes a daemon restart (mcp-broker daemon stop)";
            }

            LogApplied(why, message);
            return (true, message);
        }
        finally
        {
            _gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var watcher = Watch(Path.GetFullPath(state.Current.SourcePath));
        using var hangup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true; // SIGHUP reloads; it does not stop the daemon
            _poke.Release();
        });
        try
        {
            while (true)
            {
                await _poke.WaitAsync(stoppingToken);

                // Let a save that comes in several writes finish, and take the pokes it made as one.
                await Task.Delay(s_settle, stoppingToken);
                while (_poke.CurrentCount > 0)
                {
                    await _poke.WaitAsync(stoppingToken);
                }

                await ReloadAsync("the config file changed or SIGHUP");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Watches the config file's folder (editors save by writing in place or by renaming a new file over the old one:
    /// every event is a poke). Without a watcher (the user's inotify watches used up, say) the daemon still runs, and
    /// SIGHUP and 'mcp-broker daemon reload' still reload.
    /// </summary>
    private FileSystemWatcher? Watch(string path)
    {
        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            FileSystemEventHandler poke = (_, _) => _poke.Release();
            watcher.Changed += poke;
            watcher.Created += poke;
            watcher.Renamed += (_, _) => _poke.Release();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            watcher?.Dispose();
            LogWatchFailed(path, ex.Message);
            return null;
        }
    }

    [LoggerMessage(EventId = 604, Level = LogLevel.Warning, Message = "Cannot watch {Path} for changes ({Reason}); 'mcp-broker daemon reload' or SIGHUP reloads it")]
    private partial void LogWatchFailed(string path, string reason);

    [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "Reload ({Why}): {Message}")]
    private partial void LogApplied(string why, string message);

    [LoggerMessage(EventId = 601, Level = LogLevel.Error, Message = "Reload refused: {Path} changed ({Why}) and has {Count} error(s); the daemon keeps the last good config")]
    private partial void LogRejected(string path, string why, int count);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "Config error: {Error}")]
    private partial void LogRejectedError(string error);

    [LoggerMessage(EventId = 603, Level = LogLevel.Warning, Message = "Reload: {Setting} changed; it takes a daemon restart to apply (mcp-broker daemon stop), the daemon keeps the old value")]
    private partial void LogNeedsRestart(string setting);
}
