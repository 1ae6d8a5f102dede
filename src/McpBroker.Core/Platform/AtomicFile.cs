namespace McpBroker.Platform;

/// <summary>
/// A file replaced whole or not at all, for files that may be a symlink, may be written by two processes at once, or
/// hold a secret: client config files (ClientFiles.WriteAtomic), token files, OAuth tokens and registrations.
/// (<see cref="PrivateFiles.WriteAtomic(string, byte[])"/>
/// is the daemon's own, single-writer variant inside its runtime root.)
/// </summary>
internal static class AtomicFile
{
    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> (to the final target when it is a symlink) through a
    /// temp file of its own, fsync and rename, keeping the current file's mode (<paramref name="mode"/> when given; 0600
    /// for a new file). <paramref name="beforeReplace"/> runs just before the rename and may throw to refuse.
    /// </summary>
    public static void Write(string path, byte[] bytes, UnixFileMode? mode = null, Action<string>? beforeReplace = null)
    {
        var real = File.Exists(path) && File.ResolveLinkTarget(path, returnFinalTarget: true) is { } target ? target.FullName : path;
        var directory = Path.GetDirectoryName(Path.GetFullPath(real))!;
        Directory.CreateDirectory(directory);
        var keep = mode ?? (File.Exists(real) && !OperatingSystem.IsWindows() ? File.GetUnixFileMode(real) : PrivateFiles.FileMode);
        // A name of its own per write (two writers never share a temp file), created with the final mode from the
        // start, so secret content is never readable by others, not even for a moment.
        var temp = Path.Combine(directory, $".{Path.GetFileName(real)}.mcp-broker-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = keep;
            }

            using (var stream = new FileStream(temp, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, keep); // the umask may have narrowed the create mode
            }

            beforeReplace?.Invoke(real);
            File.Move(temp, real, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
