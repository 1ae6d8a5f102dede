using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Platform;
using McpBroker.Transports;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Upstreams;

/// <summary>
/// Starts a stdio upstream: its process in a group of its own with an explicit environment, a record of it for the
/// reaper, and the SDK's stream transport over its pipes with the stream workarounds (<c>Transports/README.md</c>)
/// in between; a refused remembered revision gets a fresh process that negotiates. A failure is thrown as an
/// <see cref="UpstreamStartException"/> whose message says what to fix (with the exit code and stderr tail of a
/// process that died).
/// </summary>
/// <param name="onLog">The upstream's log messages, read in order from its output.</param>
/// <param name="time">The clock of the start timeout.</param>
internal sealed class StdioLauncher(UpstreamModel model, UpstreamRevisions revisions, ProcessRecords records, RotatingFile? stderrLog,
    Func<JsonObject, ValueTask> onLog, TimeProvider time, ILoggerFactory loggerFactory, ILogger logger)
{
    private static readonly string[] s_inheritedVariables =
        ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
         "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
         "npm_config_cache", "npm_config_registry", "DOTNET_ROOT"];

    /// <summary>One started instance, its client built with <paramref name="options"/> for the revision to offer (null: negotiate).</summary>
    public async Task<UpstreamInstance> LaunchAsync(Func<string?, McpClientOptions> options, CancellationToken ct)
    {
        await Task.Yield();
        UpstreamProcess? process = null;
        try
        {
            var (environment, args) = BuildEnvironment();
            PrivateFiles.CreateDirectory(model.WorkingDir);
            using var startTimeout = new CancellationTokenSource(model.StartTimeout, time);
            using var startCts = CancellationTokenSource.CreateLinkedTokenSource(ct, startTimeout.Token);
            var revision = revisions.RememberedSessionRevision();
            while (true)
            {
                process = UpstreamProcess.Start(model.Command, args, model.WorkingDir, environment, stderrLog);
                records.TryAdd(model.Name, process.Pid, process.OwnGroup, process.Marker, why => UpstreamSupervisor.Log.RecordUnwritten(logger, model.Name, why));
                UpstreamSupervisor.Log.Starting(logger, model.Name, process.Pid);
                var transport = new StreamClientTransport(new OneWritePerMessage(process.Input), ProgressRelay.Tap(new LineLimitStream(process.Output, model.MaxMessageBytes, what => UpstreamSupervisor.Log.DroppedOversized(logger, model.Name, what, model.MaxMessageBytes)), onLog), loggerFactory);
                var connect = McpClient.CreateAsync(transport, options(revision), loggerFactory, startCts.Token);
                if (await Task.WhenAny(connect, process.Exited) != connect)
                {
                    await startCts.CancelAsync();
                    _ = connect.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    throw new UpstreamStartException($"the process {process.Describe()} before answering initialize");
                }

                try
                {
                    var client = await connect;
                    return new UpstreamInstance(client, process, $"pid {process.Pid}");
                }
                catch (Exception ex) when (revision is not null && UpstreamRevisions.Refused(ex))
                {
                    // The remembered revision was refused: this process is done with; a fresh one negotiates.
                    await process.DisposeAsync();
                    records.Remove(process.Pid);
                    process = null;
                    revision = revisions.Reprobe(revision);
                }
            }
        }

        catch (Exception ex)
        {
            // A process that died during start fails initialize first; wait a moment for its exit code and stderr.
            if (process is not null && ex is not (UpstreamStartException or SecretUnavailableException))
            {
                await process.ExitedWithin(TimeSpan.FromSeconds(1));
            }

            var reason = ex switch
            {
                UpstreamStartException or SecretUnavailableException => ex.Message,
                OperationCanceledException when ct.IsCancellationRequested => "the daemon is stopping",
                OperationCanceledException or TimeoutException => $"no answer to initialize within {new Duration(model.StartTimeout)}" + (process is null ? "" : $"; the process {process.Describe()}"),
                _ when UpstreamRevisions.Unspoken(ex) is { } why => why,
                _ => process is { Exited.IsCompleted: true } ? $"the process {process.Describe()}" : ex.Message,
            };
            if (process is not null)
            {
                await process.DisposeAsync();
                records.Remove(process.Pid);
            }

            UpstreamSupervisor.Log.StartFailed(logger, model.Name, ex.GetType().Name);
            throw new UpstreamStartException(reason);
        }
    }

    /// <summary>
    /// The child's environment, explicit: the SDK's safe set and a few locale/proxy/cache variables, as the daemon's
    /// environment has them (<see cref="DaemonEnvironment"/>: the same whichever client started the daemon), then the
    /// upstream's env, env_from and env_files (the secrets' values are masked from then on: <see cref="SecretMask"/>);
    /// and the arguments with the secrets they reference (<c>${KEY}</c>) filled in.
    /// </summary>
    private (Dictionary<string, string> Env, List<string> Args) BuildEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in StdioClientTransportOptions.GetDefaultEnvironmentVariables().Keys)
        {
            if (DaemonEnvironment.Get(key) is { } value)
            {
                env[key] = value;
            }
        }

        foreach (var name in s_inheritedVariables)
        {
            if (DaemonEnvironment.Get(name) is { } value)
            {
                env[name] = value;
            }
        }

        foreach (var (key, value) in model.Env)
        {
            env[key] = value;
        }

        var resolved = SecretFile.ResolveAll(model);
        foreach (var (key, value) in resolved)
        {
            env[key] = value;
        }

        return (env, SecretFile.ResolveArgs(model.Args, resolved));
    }
}
