namespace McpBroker.Tests.Support;

/// <summary>A test that reads Linux's /proc: skipped, saying why, elsewhere.</summary>
internal sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "reads /proc/PID/maps, which only Linux has";
        }
    }
}
