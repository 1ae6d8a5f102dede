namespace McpBroker.Tests.Support;

/// <summary>
/// A test that mounts a small tmpfs (a disk that can fill up, or be made read-only, without touching the machine's
/// own): it needs Linux and root; skipped, saying why, elsewhere.
/// </summary>
internal sealed partial class MountFactAttribute : FactAttribute
{
    public MountFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || geteuid() != 0 || !File.Exists("/usr/bin/mount") && !File.Exists("/bin/mount"))
        {
            Skip = "mounts a small tmpfs, which needs Linux, root and mount(8)";
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial uint geteuid();
}
