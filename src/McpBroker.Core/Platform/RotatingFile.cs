using System.Text;

namespace McpBroker.Platform;

/// <summary>
/// Appends lines to a file (mode 0600) and rotates it by size: at <c>maxBytes</c> it becomes <c>NAME.1</c>, older ones
/// shift up to <c>NAME.KEEP</c> and the oldest is dropped. Hand-written because Microsoft.Extensions.Logging ships no file
/// sink and a detached daemon has no console; thread-safe; a write that fails (disk full, a read-only root) is dropped
/// and counted (<see cref="DroppedLines"/>, shown in status), never thrown.
/// </summary>
internal sealed class RotatingFile : IDisposable
{
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly int _keep;
    private readonly Lock _gate = new();
    private FileStream? _stream;
    private static long s_dropped;

    public RotatingFile(string path, long maxBytes, int keep)
    {
        _path = path;
        _maxBytes = maxBytes;
        _keep = keep;
    }

    public string Path => _path;

    /// <summary>Lines no log file of this process could take since it started.</summary>
    public static long DroppedLines => Interlocked.Read(ref s_dropped);

    public void WriteLine(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        lock (_gate)
        {
            try
            {
                _stream ??= Open();
                _stream.Write(bytes);
                _stream.Flush();
                if (_stream.Length >= _maxBytes)
                {
                    Rotate();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref s_dropped);
                try
                {
                    _stream?.Dispose();
                }
                catch (IOException)
                {
                    // Closing can fail on the same full disk; the next line opens the file afresh.
                }

                _stream = null;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stream?.Dispose();
            _stream = null;
        }
    }

    private void Rotate()
    {
        _stream!.Dispose();
        _stream = null;
        for (var i = _keep - 1; i >= 1; i--)
        {
            if (File.Exists($"{_path}.{i}"))
            {
                File.Move($"{_path}.{i}", $"{_path}.{i + 1}", overwrite: true);
            }
        }

        File.Move(_path, $"{_path}.1", overwrite: true);
    }

    private FileStream Open()
    {
        Platform.PrivateFiles.CreateDirectory(System.IO.Path.GetDirectoryName(_path)!);
        // Unbuffered: a line is written whole or fails in Write, and nothing is left to fail again when the stream closes.
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(_path, options);
    }
}
