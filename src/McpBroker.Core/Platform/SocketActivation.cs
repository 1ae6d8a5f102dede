using System.Globalization;
using System.Net.Sockets;

namespace McpBroker.Platform;

/// <summary>
/// systemd socket activation (sd_listen_fds(3)): when systemd started the daemon for a connection to a socket it
/// listens on, the socket arrives as descriptor 3 with LISTEN_PID naming this process. The daemon takes it instead of
/// binding its own, and leaves the socket file to systemd.
/// </summary>
internal static class SocketActivation
{
    private const int FirstDescriptor = 3;

    /// <summary>True once this process took a socket from systemd.</summary>
    public static bool Used { get; private set; }

    /// <summary>The listening socket systemd passed, or null when the daemon was not socket-activated.</summary>
    public static Socket? Take()
    {
        if (!OperatingSystem.IsLinux()
            || Environment.GetEnvironmentVariable("LISTEN_PID") != Environment.ProcessId.ToString(CultureInfo.InvariantCulture)
            || !int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), CultureInfo.InvariantCulture, out var count) || count < 1)
        {
            return null;
        }

        // Meant for this process only: neither the variables nor the descriptor go on to the upstreams it starts.
        foreach (var name in new[] { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" })
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        Native.SetCloseOnExec(FirstDescriptor);
        Used = true;
        return new Socket(new SafeSocketHandle(FirstDescriptor, ownsHandle: true));
    }
}
