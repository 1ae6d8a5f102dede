using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace McpBroker.Clients;

/// <summary>One saved copy of a file: where it came from, whether it existed, its mode and hash.</summary>
internal sealed record FileBackup(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("existed")] bool Existed,
    [property: JsonPropertyName("mode")] int? Mode,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string? Sha256,
    [property: JsonPropertyName("created")] DateTimeOffset Created,
    [property: JsonPropertyName("reason")] string Reason);

/// <summary>
/// Reading, backing up, writing and restoring the files the CLI edits (client configs, and broker.yaml on import).
/// Writes are atomic (temp file beside the target, fsync, rename) and keep the file's mode; a symlinked file is written
/// through the link, so a dotfiles checkout keeps its link. Backups live under <c>{runtime.root}/backups/KIND/NAME/</c>,
/// 0600, one <c>ID.json</c> (what and where) and one <c>ID.bak</c> (the bytes) each.
/// </summary>
internal sealed class ClientFiles(string backupsDir, TimeProvider time)
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>The file a path finally names: symlinks followed, so edits land in the real file.</summary>
    public static string Resolve(string path) =>
        File.Exists(path) && File.ResolveLinkTarget(path, returnFinalTarget: true) is { } target ? target.FullName : path;

    /// <summary>The file's bytes, or null when it does not exist.</summary>
    public static byte[]? Read(string path) => File.Exists(path) ? File.ReadAllBytes(path) : null;

    public static string Hash(byte[]? bytes) => bytes is null ? "none" : Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Saves the file as it is now (or the fact that it does not exist) and returns the backup.</summary>
    public FileBackup Backup(string path, string reason)
    {
        var real = Resolve(path);
        var bytes = Read(real);
        Directory.CreateDirectory(backupsDir);
        Restrict(backupsDir, directory: true);
        var stamp = time.GetUtcNow();
        var id = stamp.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        for (var n = 2; File.Exists(MetaPath(id)); n++)
        {
            id = $"{stamp.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture)}-{n}";
        }

        var backup = new FileBackup(id, path, bytes is not null, bytes is null || OperatingSystem.IsWindows() ? null : (int)File.GetUnixFileMode(real),
            bytes?.LongLength ?? 0, bytes is null ? null : Hash(bytes), stamp, reason);
        if (bytes is not null)
        {
            WriteAtomic(Path.Combine(backupsDir, id + ".bak"), bytes, Private);
        }

        WriteAtomic(MetaPath(id), JsonSerializer.SerializeToUtf8Bytes(backup, s_json), Private);
        return backup;
    }

    /// <summary>Every backup, oldest first.</summary>
    public IReadOnlyList<FileBackup> List()
    {
        if (!Directory.Exists(backupsDir))
        {
            return [];
        }

        return [.. Directory.EnumerateFiles(backupsDir, "*.json")
            .Select(f => JsonSerializer.Deserialize<FileBackup>(File.ReadAllBytes(f)))
            .OfType<FileBackup>()
            .OrderBy(b => b.Id, StringComparer.Ordinal)];
    }

    /// <summary>Puts the file back byte for byte as the backup saw it; removes it when it did not exist then.</summary>
    public void Restore(FileBackup backup)
    {
        var real = Resolve(backup.Path);
        if (!backup.Existed)
        {
            File.Delete(real);
            return;
        }

        var bytes = File.ReadAllBytes(Path.Combine(backupsDir, backup.Id + ".bak"));
        if (Hash(bytes) != backup.Sha256)
        {
            throw new ClientConfigException($"backup {backup.Id} is damaged (its hash does not match the one recorded); nothing was restored");
        }

        WriteAtomic(real, bytes, backup.Mode is { } mode ? (UnixFileMode)mode : null);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> through a temp file, fsync and rename, keeping the
    /// current file's mode (<paramref name="mode"/> when given; 0600 for a new file). With <paramref name="expectedHash"/>
    /// (<see cref="Hash"/> of the bytes it was read as), refuses if the file changed since (the client wrote it meanwhile).
    /// </summary>
    public static void WriteAtomic(string path, byte[] bytes, UnixFileMode? mode = null, string? expectedHash = null)
    {
        var real = Resolve(path);
        var directory = Path.GetDirectoryName(real)!;
        Directory.CreateDirectory(directory);
        var keep = mode ?? (File.Exists(real) && !OperatingSystem.IsWindows() ? File.GetUnixFileMode(real) : Private);
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

            if (expectedHash is not null && Hash(Read(real)) != expectedHash)
            {
                throw new ClientConfigException($"{path} changed while this command ran (did the client write it?); nothing was written — run it again");
            }

            File.Move(temp, real, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private string MetaPath(string id) => Path.Combine(backupsDir, id + ".json");

    private static void Restrict(string path, bool directory)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, directory ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : Private);
        }
    }
}
