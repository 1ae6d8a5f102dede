using System.Net.Sockets;
using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Facade;
using McpBroker.Platform;
using McpBroker.Sessions;
using McpBroker.Upstreams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace McpBroker.Daemon;

public sealed record DaemonStartError(int ExitCode, string Message);

/// <summary>
/// Runs the daemon in the foreground: one per runtime root (an exclusive lock), socket in a 0700 folder with mode
/// 0600, every upstream stopped when it ends (SIGTERM, SIGINT or a stop request).
/// </summary>
public static partial class DaemonHost
{
    public const int ExitAlreadyRunning = 3;

    public static async Task<int> RunAsync(BrokerModel model, bool logToFile, Action<DaemonStartError> reportError, CancellationToken ct = default)
    {
        var runtime = model.Runtime;
        try
        {
            runtime.EnsureCreated();
        }
        catch (RuntimeRootException ex)
        {
            reportError(new DaemonStartError(1, ex.Message));
            return 1;
        }

        using var lockFile = TryLock(runtime.LockPath);
        if (lockFile is null)
        {
            reportError(new DaemonStartError(ExitAlreadyRunning, $"a daemon is already running for {runtime.Root} (pid {ReadPid(runtime.PidPath)?.ToString() ?? "unknown"}); stop it with 'mcp-broker daemon stop'"));
            return ExitAlreadyRunning;
        }

        if (model.Settings.Http is { } http && TokenFiles.EnsureExists(http.TokenFile, "broker.http.token_file") is { } tokenError)
        {
            reportError(new DaemonStartError(1, $"cannot open the HTTP front door: {tokenError}"));
            return 1;
        }

        if (model.Settings.StatusPage is { } page && TokenFiles.EnsureExists(page.TokenFile, "broker.status_page.token_file") is { } pageTokenError)
        {
            reportError(new DaemonStartError(1, $"cannot open the status page: {pageTokenError}"));
            return 1;
        }

        // Upstreams get the daemon's own environment, not that of whichever client's shim started it; the first daemon of
        // a root captures it (from the shell, when the user starts it there), holding the lock so only one does.
        try
        {
            Config.DaemonEnvironment.Use(Config.DaemonEnvironment.Load(model, Environment.GetEnvironmentVariable(Config.DaemonEnvironment.StartedByVariable)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reportError(new DaemonStartError(1, $"cannot read or capture the daemon's environment ({Config.DaemonEnvironment.PathOf(runtime)}): {ex.Message}"));
            return 1;
        }

        // Not made a child subreaper (ProcessTree.BecomeSubreaper) yet: with it, UpstreamSupervisorJourneyTests.PerSession_… failed
        // in 3 runs of 3 (a session not seen to end), without it in 1 of 3, on a machine at load 50; not understood, so
        // left off until it is (docs/reliability.md, "Process trees").

        // Holding the lock means the previous daemon is gone: stop whatever upstreams it left behind.
        var reaped = await new ProcessRecords(runtime.RunDir).ReapOrphansAsync();

        // Socket-activated (a systemd .socket unit): systemd owns the socket file and hands over the listening socket.
        var listener = SocketActivation.Take();
        var activated = listener is not null;
        if (listener is not null && (listener.LocalEndPoint as UnixDomainSocketEndPoint)?.ToString() is { } passed && passed != runtime.SocketPath)
        {
            listener.Dispose();
            reportError(new DaemonStartError(1, $"systemd passed the socket {passed}, but clients of {model.SourcePath} connect to {runtime.SocketPath}; run 'mcp-broker service install --socket-activation --apply' again to match the config"));
            return 1;
        }

        if (listener is null)
        {
            // Holding the lock means no daemon owns the socket: whatever file is there is stale.
            File.Delete(runtime.SocketPath);
            listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                listener.Bind(new UnixDomainSocketEndPoint(runtime.SocketPath));
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(runtime.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }

                listener.Listen(128);
            }
            catch (SocketException ex)
            {
                listener.Dispose();
                reportError(new DaemonStartError(1, $"cannot listen on {runtime.SocketPath}: {ex.Message}"));
                return 1;
            }
        }

        PrivateFiles.WriteAtomic(runtime.PidPath, System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var pointer = Shared.BrokerEndpoints.PointerPath(model.SourcePath);
        WritePointer(pointer, runtime.SocketPath);
        try
        {
            using var host = Build(model, listener, logToFile);
            var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("McpBroker.Daemon");
            foreach (var result in reaped)
            {
                LogReaped(logger, result.Record.Upstream, result.Record.Pid, result.Record.OwnerPid, result.Outcome);
            }

            await host.RunAsync(ct);
            return 0;
        }
        catch (FrontDoorException ex)
        {
            reportError(new DaemonStartError(1, ex.Message));
            return 1;
        }
        finally
        {
            if (!activated)
            {
                File.Delete(runtime.SocketPath);
            }

            File.Delete(runtime.PidPath);
            if (File.Exists(pointer) && File.ReadAllText(pointer) == runtime.SocketPath)
            {
                File.Delete(pointer);
            }
        }
    }

    /// <summary>Tells shims of this config where the socket is, so they need not read the config.</summary>
    private static void WritePointer(string pointer, string socketPath)
    {
        try
        {
            PrivateFiles.CreateDirectory(Path.GetDirectoryName(pointer)!);
            PrivateFiles.WriteAtomic(pointer, System.Text.Encoding.UTF8.GetBytes(socketPath));
        }
        catch (IOException)
        {
            // Only a shortcut: without it a shim asks 'mcp-broker daemon --detach' for the socket.
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "Reaped upstream {Upstream} (pid {Pid}) left by dead daemon {OwnerPid}: {Outcome}")]
    private static partial void LogReaped(ILogger logger, string upstream, int pid, int ownerPid, string outcome);

    private static IHost Build(BrokerModel model, Socket listener, bool logToFile)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "mcp-broker" });
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("MCP_BROKER_LOG_LEVEL"), true, out var level) ? level : LogLevel.Information);
        builder.Logging.AddFilter("ModelContextProtocol", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        if (logToFile)
        {
            builder.Logging.AddProvider(new FileLoggerProvider(model.Runtime.LogsDir));
        }
        else
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
            var console = builder.Services.Single(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider));
            builder.Services.Remove(console);
            builder.Services.AddSingleton<ILoggerProvider>(sp => new MaskingLoggerProvider(new Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider(
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>>(),
                sp.GetServices<Microsoft.Extensions.Logging.Console.ConsoleFormatter>())));
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }

        // Every secret the config names is known to the masking step before anything could carry it (a reload learns new ones).
        SecretMask.Learn(model.Upstreams);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(model);
        builder.Services.AddSingleton(sp => new ConfigState(model, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<ConfigReloader>();
        builder.Services.AddSingleton(model.Runtime);
        builder.Services.AddSingleton(listener);
        builder.Services.AddSingleton(new ProcessRecords(model.Runtime.RunDir));
        builder.Services.AddSingleton<ClientPeers>();
        builder.Services.AddSingleton<IClientSessions>(sp => sp.GetRequiredService<ClientPeers>());
        builder.Services.AddSingleton(new UpstreamLogs(model.Runtime.LogsDir));
        builder.Services.AddSingleton<UpstreamRegistry>(sp => new UpstreamRegistry(model, sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ProcessRecords>(), sp.GetRequiredService<ClientPeers>(), sp.GetRequiredService<UpstreamLogs>()));
        builder.Services.AddSingleton<ToolCatalog>();
        builder.Services.AddSingleton<BrokerFacade>();
        builder.Services.AddSingleton<BrokerResources>();
        builder.Services.AddSingleton<SessionServices>();
        builder.Services.AddSingleton<Telemetry.CallLog>();
        builder.Services.AddSingleton<DaemonStatus>();
        builder.Services.AddSingleton<IControlRequests, DaemonControl>();
        if (model.Telemetry is { } telemetry)
        {
            TelemetrySetup.Add(builder.Services, telemetry);
        }

        builder.Services.AddHostedService<UpstreamShutdown>();
        builder.Services.AddHostedService<OrphanCollector>();
        builder.Services.AddHostedService<SessionListener>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ConfigReloader>());
        if (model.Settings.Http is { } http)
        {
            builder.Services.AddHostedService(sp => new HttpFrontDoor(http, sp.GetRequiredService<SessionServices>(), sp.GetRequiredService<ILoggerFactory>()));
        }

        if (model.Settings.StatusPage is { } page)
        {
            builder.Services.AddHostedService(sp => new StatusPage(page, sp.GetRequiredService<DaemonStatus>(),
                model.Telemetry is { Prometheus: true } ? sp.GetRequiredService<OpenTelemetry.Metrics.MeterProvider>() : null, sp.GetRequiredService<ILoggerFactory>()));
        }
        return builder.Build();
    }

    private static FileStream? TryLock(string path)
    {
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock) on Unix; it dies with the process.
            var stream = new FileStream(path, PrivateFiles.Options(FileMode.OpenOrCreate, FileAccess.ReadWrite));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(stream.SafeFileHandle, PrivateFiles.FileMode); // a lock file of an older daemon may be 0644
            }

            return stream;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Registered first so it stops last: every upstream stops after the sessions have ended; then whatever the daemon
    /// adopted as a subreaper and is still running (a descendant that left its upstream's group and cleared its
    /// environment, so nothing else ties it to an upstream).
    /// </summary>
    private sealed partial class UpstreamShutdown(UpstreamRegistry registry, ILogger<UpstreamShutdown> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await registry.DisposeAsync();
            if (await ProcessTree.StopAsync(ProcessTree.Adopted(), TimeSpan.FromSeconds(2)) is var stopped and > 0)
            {
                LogAdoptedStopped(logger, stopped);
            }
        }

        [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Stopped {Count} process(es) that upstreams had left behind (adopted by the daemon as a subreaper)")]
        private static partial void LogAdoptedStopped(ILogger logger, int count);
    }

    /// <summary>A subreaper collects its adopted children when they die: each uncollected one holds a pid.</summary>
    private sealed class OrphanCollector(TimeProvider time) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (!ProcessTree.Subreaper)
            {
                return;
            }

            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5), time);
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken))
                {
                    ProcessTree.CollectZombies();
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
