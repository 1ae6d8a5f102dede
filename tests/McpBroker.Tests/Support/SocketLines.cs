using System.Net.Sockets;
using System.Text;

namespace McpBroker.Tests.Support;

/// <summary>Reading a peer's lines from a plain socket, a byte at a time so nothing past the line is taken.</summary>
internal static class SocketLines
{
    /// <summary>The next line without its newline; what arrived before the end when the peer closes first.</summary>
    public static async Task<string> ReadLineAsync(Socket socket, TimeSpan limit)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (await socket.ReceiveAsync(one).WaitAsync(limit) == 1 && one[0] != (byte)'\n')
        {
            line.Add(one[0]);
        }

        return Encoding.UTF8.GetString([.. line]);
    }
}
