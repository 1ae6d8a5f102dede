namespace McpBroker.Cli;

/// <summary>
/// What every command's exit code means (README, "Exit codes"). A command returns one of these and nothing else, so a
/// script can tell a failed check from a mistyped command from a daemon that is not there.
/// </summary>
internal static class ExitCodes
{
    /// <summary>It did what was asked; a check found nothing broken.</summary>
    public const int Ok = 0;

    /// <summary>It could not: an invalid config, a daemon error, a check that failed (doctor's problem, a probe).</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong: an unknown command or option, a bad value, options that contradict each other.</summary>
    public const int Usage = 2;

    /// <summary>No daemon runs for this root (status, top). daemon stop and reload say so and succeed: nothing to do.</summary>
    public const int NotRunning = 3;

    /// <summary>A daemon already runs for this root (daemon in the foreground): the same code, the daemon's presence.</summary>
    public const int AlreadyRunning = McpBroker.Daemon.DaemonHost.ExitAlreadyRunning;
}
