using System.ComponentModel;
using System.Diagnostics;
using McpBroker.Config;
using McpBroker.Platform;

namespace McpBroker.Upstreams;

/// <summary>
/// One stdio upstream process, started in a session (and process group) of its own where <c>setsid</c> exists,
/// so wrappers such as npx and the servers they spawn stop together. The environment is exactly what the caller
/// passes. The last stderr lines are kept (with secret values masked) to explain a failure.
/// </summary>
internal sealed class UpstreamProcess : IAsyncDisposable
{
    private const int StderrLines = 40;
    private const int StderrLineLength = 400;
    private static readonly string? s_setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    private readonly Process _process;
    private readonly Queue<string> _stderr = new();

    private const int LoggedLineLength = 8000;
    private readonly Platform.RotatingFile? _stderrLog;

    private UpstreamProcess(Process process, bool ownGroup, Platform.RotatingFile? stderrLog)
    {
        _process = process;
        _stderrLog = stderrLog;
        OwnGroup = ownGroup;
        Pid = process.Id;
        Marker = process.StartInfo.Environment[ProcessTree.MarkerVariable]!;
        Exited = WaitForExitAsync();
    }

    public int Pid { get; }

    /// <summary>The value of <see cref="ProcessTree.MarkerVariable"/> in its environment, which its descendants inherit.</summary>
    public string Marker { get; }

    /// <summary>True when the process leads its own process group (pgid = pid).</summary>
    public bool OwnGroup { get; }

    public Task Exited { get; }

    /// <summary>Set once the process has exited (and its stderr is read to the end); safe after disposal.</summary>
    public int? ExitCode { get; private set; }

    public Stream Input => _process.StandardInput.BaseStream;

    public Stream Output => _process.StandardOutput.BaseStream;

    /// <param name="stderrLog">Where every stderr line goes too (secrets masked, <see cref="SecretMask"/>), with time and pid; null for nowhere.</param>
    public static UpstreamProcess Start(string command, IReadOnlyList<string> args, string workingDir,
        IReadOnlyDictionary<string, string> environment, Platform.RotatingFile? stderrLog = null)
    {
        var executable = ResolveExecutable(command, environment.GetValueOrDefault("PATH"))
            ?? throw new UpstreamStartException($"command '{command}' was not found" + (command.Contains('/') ? "" : " on PATH"));
        var startInfo = new ProcessStartInfo
        {
            FileName = s_setsid ?? executable,
            WorkingDirectory = workingDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (s_setsid is not null)
        {
            startInfo.ArgumentList.Add(executable);
        }

        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        startInfo.Environment.Clear();
        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        startInfo.Environment[ProcessTree.MarkerVariable] = ProcessTree.NewMarker();
        var process = new Process { StartInfo = startInfo };
        try
        {
            ProcessTree.Spawn(() =>
            {
                process.Start();
                return process.Id;
            });
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new UpstreamStartException($"could not start '{command}': {ex.Message}");
        }

        var upstream = new UpstreamProcess(process, s_setsid is not null, stderrLog);
        process.ErrorDataReceived += (_, e) => upstream.OnStderr(e.Data);
        process.BeginErrorReadLine();
        return upstream;
    }

    private async Task WaitForExitAsync()
    {
        await _process.WaitForExitAsync();
        ExitCode = _process.ExitCode;
        ProcessTree.Forget(Pid);
    }

    public IReadOnlyList<string> StderrTail()
    {
        lock (_stderr)
        {
            return [.. _stderr];
        }
    }

    public string Describe()
    {
        var exit = ExitCode is { } code ? $"exited with code {code}" : "is running";
        var tail = StderrTail();
        return tail.Count == 0 ? exit : $"{exit}; last stderr lines:\n  {string.Join("\n  ", tail.TakeLast(10))}";
    }

    /// <summary>
    /// Stops the process and everything in its group: stdin is already closed by the MCP client; then SIGTERM,
    /// a grace period, SIGKILL, and a check that the group is empty. Then what left the group (a double fork and
    /// setsid), found by its marker and by ancestry (<see cref="ProcessTree"/>), looked for before and after.
    /// </summary>
    public async ValueTask StopAsync(TimeSpan grace)
    {
        var escaped = ProcessTree.Find(Marker, Exited.IsCompleted ? null : Pid);
        await StopGroupAsync(grace);
        await ProcessTree.StopAsync([.. escaped, .. ProcessTree.Find(Marker)], grace);
    }

    private async Task StopGroupAsync(TimeSpan grace)
    {
        if (await ExitedWithin(TimeSpan.FromMilliseconds(200)) && !GroupLeft())
        {
            return;
        }

        Terminate(Native.SIGTERM);
        if (!await ExitedWithin(grace) || GroupLeft())
        {
            Terminate(Native.SIGKILL);
            await ExitedWithin(grace);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(2));

        // Process.Dispose leaves stdin/stdout open once they were read synchronously (as the MCP transport does).
        foreach (var pipe in new IDisposable[] { _process.StandardInput, _process.StandardOutput })
        {
            try
            {
                pipe.Dispose();
            }
            catch (IOException)
            {
            }
        }

        _process.Dispose();
    }

    /// <summary>
    /// True while processes of the upstream's own group remain. Once the leader has exited and been collected, its pid
    /// stays reserved only while its group has members; a live process with that pid is therefore someone else's
    /// (the pid was reused, with pid_max at 32768 this happens), and its group must never be signalled as ours.
    /// </summary>
    private bool GroupLeft() => OwnGroup && !(Exited.IsCompleted && Native.ProcessAlive(Pid)) && Native.GroupAlive(Pid);

    private void Terminate(int signal)
    {
        if (OwnGroup && Exited.IsCompleted && Native.ProcessAlive(Pid))
        {
            return; // the leader is gone and its pid belongs to another process now (see GroupLeft)
        }

        if (OwnGroup)
        {
            Native.SignalGroup(Pid, signal);
        }
        else if (!Exited.IsCompleted)
        {
            if (signal == Native.SIGKILL || OperatingSystem.IsWindows())
            {
                _process.Kill(entireProcessTree: true);
            }
            else
            {
                Native.Signal(Pid, signal);
            }
        }
    }

    public async Task<bool> ExitedWithin(TimeSpan timeout)
    {
        try
        {
            await Exited.WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            return;
        }

        line = SecretMask.Mask(line);
        _stderrLog?.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} [pid {Pid}] {(line.Length > LoggedLineLength ? line[..LoggedLineLength] + "…" : line)}");
        if (line.Length > StderrLineLength)
        {
            line = line[..StderrLineLength] + "…";
        }

        lock (_stderr)
        {
            if (_stderr.Count == StderrLines)
            {
                _stderr.Dequeue();
            }

            _stderr.Enqueue(line);
        }
    }

    private static string? ResolveExecutable(string command, string? path)
    {
        if (command.Contains('/'))
        {
            return File.Exists(command) ? Path.GetFullPath(command) : null;
        }

        foreach (var dir in (path ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, command);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>An upstream could not be started; the message says why in terms the user can act on.</summary>
internal sealed class UpstreamStartException(string message) : Exception(message);
