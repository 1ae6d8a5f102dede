using System.Runtime.InteropServices;

namespace McpBroker.Platform;

/// <summary>The few libc calls .NET has no API for: signals to process groups, sessions, peer credentials.</summary>
internal static partial class Native
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    private const int ESRCH = 3;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setsid();

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getsockopt(nint socket, int level, int optname, out UCred optval, ref int optlen);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getpeereid(nint socket, out uint euid, out uint egid);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int dup2(int oldfd, int newfd);

    // fcntl is variadic; an int third argument is passed like a fixed one on Linux (x64 and arm64), the only place it is used.
    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    // prctl is variadic; its unsigned long arguments are passed like fixed ones on Linux (x64 and arm64), the only place it is used.
    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int waitpid(int pid, out int status, int options);

    [StructLayout(LayoutKind.Sequential)]
    private struct UCred
    {
        public int Pid;
        public uint Uid;
        public uint Gid;
    }


    public static uint EffectiveUserId => OperatingSystem.IsWindows() ? 0 : geteuid();

    /// <summary>Sends a signal to every process of a group. False when the group has no process left.</summary>
    public static bool SignalGroup(int pgid, int signal) => kill(-pgid, signal) == 0 || Marshal.GetLastPInvokeError() != ESRCH;

    /// <summary>True while any process of the group exists.</summary>
    public static bool GroupAlive(int pgid) => SignalGroup(pgid, 0);

    /// <summary>True while the process exists and is not a zombie (a dead child its parent has not collected yet).</summary>
    public static bool ProcessAlive(int pid)
    {
        if (!(kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != ESRCH))
        {
            return false;
        }

        if (!OperatingSystem.IsLinux())
        {
            return true;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>
    /// Linux: makes the caller a child subreaper (PR_SET_CHILD_SUBREAPER), so a descendant orphaned by its parent's exit
    /// (a double fork) is re-parented to the caller instead of init. False where the OS has no such thing.
    /// </summary>
    public static bool BecomeChildSubreaper() => OperatingSystem.IsLinux() && prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0) == 0;

    /// <summary>Linux: whether the caller is a child subreaper (PR_GET_CHILD_SUBREAPER).</summary>
    public static unsafe bool IsChildSubreaper()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        int value = 0;
        return prctl(37 /* PR_GET_CHILD_SUBREAPER */, (nuint)(&value), 0, 0, 0) == 0 && value != 0;
    }

    /// <summary>Collects a dead child's exit status without waiting (WNOHANG); true when <paramref name="pid"/> was collected.</summary>
    public static bool CollectChild(int pid) => waitpid(pid, out _, 1 /* WNOHANG */) == pid;

    /// <summary>Leaves the caller's session and process group (used by the detached daemon).</summary>
    public static void StartNewSession() => _ = setsid();

    /// <summary>Points stdin, stdout and stderr at /dev/null, so a detached daemon holds no terminal or pipe.</summary>
    public static void DetachStandardStreams()
    {
        var fd = open("/dev/null", 2 /* O_RDWR */);
        if (fd >= 0)
        {
            _ = dup2(fd, 0);
            _ = dup2(fd, 1);
            _ = dup2(fd, 2);
        }
    }

    /// <summary>
    /// Appends stderr to <paramref name="path"/> (created 0600): what the runtime prints when a detached daemon dies of
    /// an unhandled exception lands there instead of /dev/null.
    /// </summary>
    public static void RedirectStandardError(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        // Created here rather than with open's O_CREAT: its mode argument is variadic, which P/Invoke cannot pass portably.
        using (File.Open(path, FileMode.Append, FileAccess.Write))
        {
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var fd = open(path, 0x1 /* O_WRONLY */ | (OperatingSystem.IsMacOS() ? 0x8 : 0x400) /* O_APPEND */);
        if (fd >= 0)
        {
            _ = dup2(fd, 2);
        }
    }

    /// <summary>Marks an inherited descriptor close-on-exec (Linux), so the processes the daemon starts do not inherit it.</summary>
    public static void SetCloseOnExec(int fd)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = fcntl(fd, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */);
        }
    }

    /// <summary>The uid of the process at the other end of a Unix socket, or null when the OS will not say.</summary>
    public static uint? PeerUserId(nint socketHandle)
    {
        if (OperatingSystem.IsLinux())
        {
            var len = Marshal.SizeOf<UCred>();
            return getsockopt(socketHandle, 1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, out var cred, ref len) == 0 ? cred.Uid : null;
        }

        if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            return getpeereid(socketHandle, out var uid, out _) == 0 ? uid : null;
        }

        return null;
    }
}
