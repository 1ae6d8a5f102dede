using Microsoft.Win32.SafeHandles;

namespace McpBroker.Shim;

/// <summary>
/// The shim's stdin and stdout. Where they are pipes or sockets on Unix, plain streams over the descriptors: the first
/// write to a console stream sets up the terminal and starts the runtime's signal-handling thread, on the way to the
/// client's first answer. Elsewhere — Windows, or a file, which console streams write at the offset it shares with
/// stderr — the console's streams.
/// </summary>
internal static class StandardStreams
{
    public static Stream Input() => Descriptor(0, FileAccess.Read) ?? Console.OpenStandardInput();

    public static Stream Output() => Descriptor(1, FileAccess.Write) is { } output ? new ClientOutput(output) : Console.OpenStandardOutput();

    private static FileStream? Descriptor(int descriptor, FileAccess access)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        var stream = new FileStream(new SafeFileHandle(descriptor, ownsHandle: false), access, bufferSize: 0);
        if (!stream.CanSeek)
        {
            return stream;
        }

        stream.Dispose();
        return null;
    }

    /// <summary>
    /// stdout as a console stream treats it: once the client has closed its end, writes to it are dropped (EPIPE), not
    /// errors — the relay goes on until stdin ends, as it did on the console stream.
    /// </summary>
    private sealed class ClientOutput(FileStream inner) : Stream
    {
        private const int EPipe = 32;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try
            {
                inner.Write(buffer);
            }
            catch (IOException ex) when (ex.HResult == EPipe)
            {
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
