using System.Collections.Concurrent;
using System.Text.Json;
using McpBroker.Config;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

public enum UpstreamStateKind
{
    Stopped,
    Starting,
    Running,
    Failed,
}

/// <summary>What status shows for one upstream: a snapshot of its live state.</summary>
public sealed record UpstreamState(
    string Name,
    string State,
    int? Pid,
    int Sessions,
    int InFlight,
    int Restarts,
    string? LastError,
    DateTimeOffset? StartedAt,
    DateTimeOffset? LastUsedAt);

/// <summary>
/// Owns one upstream: starts it on first need (one start at a time, shared by every waiter), lets many
/// requests run on it at once, stops it when idle or when the daemon stops, and remembers why it last failed.
/// </summary>
internal sealed partial class UpstreamSupervisor : IAsyncDisposable
{
    /// <summary>The newest revision both the SDK and the npm reference servers speak; the SDK default probes first.</summary>
    public const string UpstreamProtocolVersion = "2025-11-25";

    private static readonly string[] s_inheritedVariables =
        ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
         "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
         "npm_config_cache", "npm_config_registry", "DOTNET_ROOT"];

    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, byte> _sessions = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposed = new();
    private Task<Instance>? _current;
    private UpstreamStateKind _state = UpstreamStateKind.Stopped;
    private string? _lastError;
    private int _restarts;
    private int _starts;
    private int _inFlight;
    private long _lastUsedTicks;
    private DateTimeOffset? _startedAt;

    public UpstreamSupervisor(UpstreamModel model, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Model = model;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<UpstreamSupervisor>();
        _time = time;
        _lastUsedTicks = time.GetUtcNow().UtcTicks;
        if (model.IdleTimeout > TimeSpan.Zero)
        {
            _ = WatchIdleAsync(_disposed.Token);
        }
    }

    public UpstreamModel Model { get; }

    public UpstreamState Snapshot()
    {
        lock (_gate)
        {
            var instance = _current is { IsCompletedSuccessfully: true } t ? t.Result : null;
            return new UpstreamState(Model.Name, _state.ToString().ToLowerInvariant(), instance?.Process.Pid, _sessions.Count,
                Volatile.Read(ref _inFlight), _restarts, _lastError, _startedAt,
                _starts == 0 ? null : new DateTimeOffset(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero));
        }
    }

    public void ReleaseSession(string sessionId) => _sessions.TryRemove(sessionId, out _);

    public async Task<Outcome<IList<Tool>>> ListToolsAsync(string? sessionId, CancellationToken ct)
    {
        return await RunAsync(sessionId, Model.StartTimeout, async (client, token) =>
        {
            var tools = await client.ListToolsAsync(cancellationToken: token);
            return (IList<Tool>)[.. tools.Select(t => t.ProtocolTool)];
        }, ct);
    }

    public async Task<Outcome<CallToolResult>> CallToolAsync(string? sessionId, string tool, IDictionary<string, JsonElement>? arguments, CancellationToken ct)
    {
        return await RunAsync(sessionId, Model.CallTimeout, async (client, token) =>
            await client.CallToolAsync(new CallToolRequestParams { Name = tool, Arguments = arguments }, token), ct);
    }

    private async Task<Outcome<T>> RunAsync<T>(string? sessionId, TimeSpan timeout, Func<McpClient, CancellationToken, Task<T>> action, CancellationToken ct)
    {
        Interlocked.Increment(ref _inFlight);
        Touch();
        try
        {
            if (sessionId is not null)
            {
                _sessions.TryAdd(sessionId, 0);
            }

            var started = await GetInstanceAsync(ct);
            if (!started.Ok)
            {
                return started.Error!;
            }

            var instance = started.Value!;
            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeoutCts.CancelAfter(timeout);
            try
            {
                return await action(instance.Client, timeoutCts.Token);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return new BrokerError(BrokerErrorCode.Cancelled, "the request was cancelled", "");
            }
            catch (OperationCanceledException)
            {
                return new BrokerError(BrokerErrorCode.UpstreamTimeout,
                    $"upstream '{Model.Name}' did not answer within {new Duration(timeout)}",
                    $"raise upstreams.{Model.Name}.timeouts.call, or retry with a smaller request");
            }
            catch (McpProtocolException ex)
            {
                return new BrokerError(BrokerErrorCode.UpstreamError, $"upstream '{Model.Name}' answered with an error: {ex.Message}",
                    "check the arguments against describe_tool's input schema");
            }
            catch (Exception ex) when (instance.Process.Exited.IsCompleted || ex is IOException or McpException or ObjectDisposedException)
            {
                await instance.Process.Exited.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
                return new BrokerError(BrokerErrorCode.UpstreamCrashed, $"upstream '{Model.Name}' {instance.Process.Describe()}",
                    "the next request starts it again; 'mcp-broker status' shows its last error");
            }
        }
        finally
        {
            Touch();
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private void Touch() => Interlocked.Exchange(ref _lastUsedTicks, _time.GetUtcNow().UtcTicks);

    private async Task<Outcome<Instance>> GetInstanceAsync(CancellationToken ct)
    {
        Task<Instance> current;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            if (_current is null || _current.IsFaulted || _current.IsCanceled)
            {
                _state = UpstreamStateKind.Starting;
                _current = StartAsync(_disposed.Token);
            }

            current = _current;
        }

        try
        {
            return await current.WaitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new BrokerError(BrokerErrorCode.Cancelled, "the request was cancelled while the upstream started", "");
        }
        catch (Exception ex) when (ex is UpstreamStartException or OperationCanceledException or ObjectDisposedException)
        {
            return new BrokerError(BrokerErrorCode.UpstreamUnavailable, $"upstream '{Model.Name}' could not start: {ex.Message}",
                $"check upstreams.{Model.Name} (command, args, env_from, env_files); 'mcp-broker status' shows the last error");
        }
    }

    private async Task<Instance> StartAsync(CancellationToken ct)
    {
        await Task.Yield();
        UpstreamProcess? process = null;
        try
        {
            var (environment, secrets) = BuildEnvironment();
            Directory.CreateDirectory(Model.WorkingDir);
            process = UpstreamProcess.Start(Model.Command, Model.Args, Model.WorkingDir, environment, secrets);
            LogStarting(Model.Name, process.Pid);
            using var startCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            startCts.CancelAfter(Model.StartTimeout);
            var transport = new StreamClientTransport(process.Input, process.Output, _loggerFactory);
            var connect = McpClient.CreateAsync(transport, new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "mcp-broker", Version = BrokerInfo.Version },
                ProtocolVersion = UpstreamProtocolVersion,
                InitializationTimeout = Model.StartTimeout,
            }, _loggerFactory, startCts.Token);
            if (await Task.WhenAny(connect, process.Exited) != connect)
            {
                await startCts.CancelAsync();
                _ = connect.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                throw new UpstreamStartException($"the process {process.Describe()} before answering initialize");
            }

            var client = await connect;
            var instance = new Instance(client, process);
            lock (_gate)
            {
                _state = UpstreamStateKind.Running;
                _startedAt = _time.GetUtcNow();
                _lastError = null;
                if (_starts++ > 0)
                {
                    _restarts++;
                }
            }

            _ = WatchExitAsync(instance);
            return instance;
        }
        catch (Exception ex)
        {
            var reason = ex switch
            {
                UpstreamStartException => ex.Message,
                OperationCanceledException when ct.IsCancellationRequested => "the daemon is stopping",
                OperationCanceledException or TimeoutException => $"no answer to initialize within {new Duration(Model.StartTimeout)}" + (process is null ? "" : $"; the process {process.Describe()}"),
                _ => process is { Exited.IsCompleted: true } ? $"the process {process.Describe()}" : ex.Message,
            };
            if (process is not null)
            {
                await process.DisposeAsync();
            }

            lock (_gate)
            {
                _state = UpstreamStateKind.Failed;
                _lastError = reason;
            }

            LogStartFailed(Model.Name, ex.GetType().Name);
            throw new UpstreamStartException(reason);
        }
    }

    private async Task WatchExitAsync(Instance instance)
    {
        await instance.Process.Exited.ConfigureAwait(false);
        lock (_gate)
        {
            if (_current is { IsCompletedSuccessfully: true } t && ReferenceEquals(t.Result, instance))
            {
                _current = null;
                _state = UpstreamStateKind.Failed;
                _lastError = $"the process {instance.Process.Describe()}";
            }
        }

        if (!_disposed.IsCancellationRequested)
        {
            LogExited(Model.Name, instance.Process.Pid, instance.Process.ExitCode);
        }

        await instance.DisposeAsync();
    }

    private async Task WatchIdleAsync(CancellationToken ct)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(Model.IdleTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond * 30));
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var idleFor = _time.GetUtcNow() - new DateTimeOffset(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);
                if (Volatile.Read(ref _inFlight) == 0 && idleFor >= Model.IdleTimeout)
                {
                    await StopInstanceAsync(onlyIfIdle: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops the running instance, if any. With <paramref name="onlyIfIdle"/>, only when nothing is in flight.</summary>
    public async Task StopInstanceAsync(bool onlyIfIdle = false)
    {
        Instance? instance;
        lock (_gate)
        {
            if (_current is not { IsCompletedSuccessfully: true } t || (onlyIfIdle && Volatile.Read(ref _inFlight) > 0))
            {
                return;
            }

            instance = t.Result;
            _current = null;
            _state = UpstreamStateKind.Stopped;
        }

        LogStopping(Model.Name, instance.Process.Pid, onlyIfIdle ? "idle" : "requested");
        await instance.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Task<Instance>? current;
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested)
            {
                return;
            }

            _disposed.Cancel();
            current = _current;
            _current = null;
            _state = UpstreamStateKind.Stopped;
        }

        if (current is not null)
        {
            try
            {
                var instance = await current;
                LogStopping(Model.Name, instance.Process.Pid, "daemon stopping");
                await instance.DisposeAsync();
            }
            catch (Exception ex) when (ex is UpstreamStartException or OperationCanceledException)
            {
            }
        }

        _disposed.Dispose();
    }

    /// <summary>
    /// The child's environment, explicit: the SDK's safe set, a few locale/proxy/cache variables,
    /// then the upstream's env, env_from and env_files. The values read from secrets are returned for masking.
    /// </summary>
    private (Dictionary<string, string> Env, List<string> Secrets) BuildEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in StdioClientTransportOptions.GetDefaultEnvironmentVariables())
        {
            if (value is not null)
            {
                env[key] = value;
            }
        }

        foreach (var name in s_inheritedVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                env[name] = value;
            }
        }

        foreach (var (key, value) in Model.Env)
        {
            env[key] = value;
        }

        var secrets = new List<string>();
        foreach (var (key, variable) in Model.EnvFrom)
        {
            var value = Environment.GetEnvironmentVariable(variable)
                ?? throw new UpstreamStartException($"env_from.{key}: host variable '{variable}' is not set in the daemon's environment");
            env[key] = value;
            secrets.Add(value);
        }

        foreach (var (key, file) in Model.EnvFiles)
        {
            var value = SecretFile.Read(file, $"env_files.{key}");
            env[key] = value;
            secrets.Add(value);
        }

        secrets.RemoveAll(s => s.Length < 4);
        return (env, secrets);
    }

    private sealed record Instance(McpClient Client, UpstreamProcess Process) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await Client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (Exception ex) when (ex is TimeoutException or IOException or ObjectDisposedException)
            {
            }

            await Process.DisposeAsync();
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Starting upstream {Name} (pid {Pid})")]
    private partial void LogStarting(string name, int pid);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Upstream {Name} failed to start ({Kind}); status shows the reason")]
    private partial void LogStartFailed(string name, string kind);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Upstream {Name} (pid {Pid}) exited with code {ExitCode}")]
    private partial void LogExited(string name, int pid, int? exitCode);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Stopping upstream {Name} (pid {Pid}): {Reason}")]
    private partial void LogStopping(string name, int pid, string reason);
}
