namespace McpBroker.Platform;

/// <summary>
/// Files and folders only their owner may read (0600) and enter (0700), written whole or not at all: what the daemon
/// keeps inside its runtime root and beside it (records, pid, lock, caches, endpoint pointers).
/// </summary>
internal static class PrivateFiles
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> and its missing parents owner-only; an existing one keeps its mode.</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows() || Directory.Exists(path))
        {
            Directory.CreateDirectory(path);
            return;
        }

        // Directory.CreateDirectory(path, mode) gives the mode to the last folder only; its missing parents get 0777 less the umask.
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } parent)
        {
            CreateDirectory(parent);
        }

        Directory.CreateDirectory(path, DirectoryMode);
    }

    /// <summary>
    /// Writes a file through a temp file created 0600 and a rename, so a failed write (a full disk) leaves the previous
    /// content, never a partial or empty file; the temp file is removed on failure.
    /// </summary>
    public static void WriteAtomic(string path, Action<Stream> write)
    {
        var temp = path + ".tmp";
        try
        {
            File.Delete(temp); // a leftover keeps its old mode: FileStreamOptions.UnixCreateMode applies to new files only
            using (var stream = new FileStream(temp, Options(System.IO.FileMode.CreateNew)))
            {
                write(stream);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public static void WriteAtomic(string path, byte[] bytes) => WriteAtomic(path, stream => stream.Write(bytes));

    /// <summary>Options for a file created 0600 (the umask can only narrow that).</summary>
    public static FileStreamOptions Options(System.IO.FileMode mode, FileAccess access = FileAccess.Write, FileShare share = FileShare.None)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        return options;
    }
}
