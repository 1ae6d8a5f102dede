using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using McpBroker.Platform;

namespace McpBroker.Clients;

/// <summary>
/// One saved copy of a file: where it came from, whether it existed, its mode and hash — and, for a change that touches
/// several files at once (Codex's config and its app caches), the other files saved with it, restored together. Once
/// the command that made it has written the file, also the hash of what it wrote (<c>written_sha256</c>, its bytes in
/// <c>ID.after</c>) and the servers it took out (<c>removed</c>): how rollback knows the client wrote the file since,
/// and how remove knows what to put back.
/// </summary>
internal sealed record FileBackup(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("existed")] bool Existed,
    [property: JsonPropertyName("mode")] int? Mode,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string? Sha256,
    [property: JsonPropertyName("created")] DateTimeOffset Created,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("also"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<SavedFile>? Also = null,
    [property: JsonPropertyName("written_sha256"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? WrittenSha256 = null,
    [property: JsonPropertyName("removed"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Removed = null)
{
    /// <summary>Every file this backup holds: the main one first.</summary>
    [JsonIgnore]
    public IReadOnlyList<SavedFile> Files => [new SavedFile(Path, Existed, Mode, Bytes, Sha256), .. Also ?? []];
}

/// <summary>One file inside a backup.</summary>
internal sealed record SavedFile(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("existed")] bool Existed,
    [property: JsonPropertyName("mode")] int? Mode,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string? Sha256);

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

    /// <summary>
    /// Saves the file as it is now (or the fact that it does not exist), and the files in <paramref name="also"/> with
    /// it under the same id (<c>ID.bak</c>, <c>ID.1.bak</c>, …), and returns the backup.
    /// </summary>
    public FileBackup Backup(string path, string reason, IReadOnlyList<string>? also = null)
    {
        Directory.CreateDirectory(backupsDir);
        Restrict(backupsDir, directory: true);
        var stamp = time.GetUtcNow();
        var id = stamp.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        for (var n = 2; File.Exists(MetaPath(id)); n++)
        {
            id = $"{stamp.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture)}-{n}";
        }

        var main = Save(path, BakPath(id, 0));
        var others = also is null ? null : also.Select((p, i) => Save(p, BakPath(id, i + 1))).ToList();
        var backup = new FileBackup(id, path, main.Existed, main.Mode, main.Bytes, main.Sha256, stamp, reason, others is { Count: > 0 } ? others : null);
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

    /// <summary>
    /// Puts every file of the backup back byte for byte as the backup saw it, removing those that did not exist then.
    /// Every saved copy is read and checked against its hash before the first file is touched. With
    /// <paramref name="only"/>, just those files (the ones a failed command had written already).
    /// </summary>
    public void Restore(FileBackup backup, IReadOnlyCollection<string>? only = null)
    {
        var copies = new List<(SavedFile File, byte[]? Bytes)>();
        foreach (var (i, file) in backup.Files.Index())
        {
            if (only is not null && !only.Contains(file.Path))
            {
                continue;
            }

            byte[]? bytes = null;
            if (file.Existed)
            {
                bytes = File.ReadAllBytes(BakPath(backup.Id, i));
                if (Hash(bytes) != file.Sha256)
                {
                    throw new ClientConfigException($"backup {backup.Id} is damaged (the copy of {file.Path} does not match the hash recorded); nothing was restored");
                }
            }

            copies.Add((file, bytes));
        }

        foreach (var (file, bytes) in copies)
        {
            var real = Resolve(file.Path);
            if (bytes is null)
            {
                File.Delete(real);
            }
            else
            {
                WriteAtomic(real, bytes, file.Mode is { } mode ? (UnixFileMode)mode : null);
            }
        }
    }

    /// <summary>
    /// Records on <paramref name="backup"/> what its command then wrote to the main file (and the servers it took out),
    /// so a later rollback can tell whether the client has written the file since, and show what that changed.
    /// </summary>
    public FileBackup RecordWrite(FileBackup backup, byte[]? written, IReadOnlyList<string>? removed = null)
    {
        if (written is not null)
        {
            WriteAtomic(AfterPath(backup.Id), written, Private);
        }

        var recorded = backup with { WrittenSha256 = Hash(written), Removed = removed is { Count: > 0 } ? removed : null };
        WriteAtomic(MetaPath(backup.Id), JsonSerializer.SerializeToUtf8Bytes(recorded, s_json), Private);
        return recorded;
    }

    /// <summary>The bytes the backup's command wrote (null when it removed the file, or wrote nothing it recorded).</summary>
    public byte[]? Written(FileBackup backup) =>
        backup.WrittenSha256 is { } hash && File.Exists(AfterPath(backup.Id)) && File.ReadAllBytes(AfterPath(backup.Id)) is var bytes && Hash(bytes) == hash ? bytes : null;

    /// <summary>The main file as the backup saved it (null when it did not exist then); a damaged copy is an error.</summary>
    public byte[]? Saved(FileBackup backup)
    {
        if (!backup.Existed)
        {
            return null;
        }

        var bytes = File.ReadAllBytes(BakPath(backup.Id, 0));
        return Hash(bytes) == backup.Sha256 ? bytes
            : throw new ClientConfigException($"backup {backup.Id} is damaged (the copy of {backup.Path} does not match the hash recorded)");
    }

    /// <summary>Deletes a backup that protects nothing any more (its command failed and put everything back).</summary>
    public void Forget(FileBackup backup)
    {
        File.Delete(AfterPath(backup.Id));
        foreach (var index in Enumerable.Range(0, backup.Files.Count))
        {
            File.Delete(BakPath(backup.Id, index));
        }

        File.Delete(MetaPath(backup.Id));
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> through a temp file, fsync and rename, keeping the
    /// current file's mode (<paramref name="mode"/> when given; 0600 for a new file). With <paramref name="expectedHash"/>
    /// (<see cref="Hash"/> of the bytes it was read as), refuses if the file changed since (the client wrote it meanwhile).
    /// </summary>
    public static void WriteAtomic(string path, byte[] bytes, UnixFileMode? mode = null, string? expectedHash = null) =>
        AtomicFile.Write(path, bytes, mode, expectedHash is null ? null : real =>
        {
            if (Hash(Read(real)) != expectedHash)
            {
                throw new ClientConfigException($"{path} changed while this command ran (did the client write it?); nothing was written — run it again");
            }
        });

    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private string MetaPath(string id) => Path.Combine(backupsDir, id + ".json");

    private string AfterPath(string id) => Path.Combine(backupsDir, id + ".after");

    /// <summary>Where a backup keeps its copy of file <paramref name="index"/> (0: the main file, as before several files were kept).</summary>
    private string BakPath(string id, int index) => Path.Combine(backupsDir, index == 0 ? id + ".bak" : $"{id}.{index}.bak");

    private static SavedFile Save(string path, string bakPath)
    {
        var real = Resolve(path);
        var bytes = Read(real);
        if (bytes is not null)
        {
            WriteAtomic(bakPath, bytes, Private);
        }

        return new SavedFile(path, bytes is not null, bytes is null || OperatingSystem.IsWindows() ? null : (int)File.GetUnixFileMode(real),
            bytes?.LongLength ?? 0, bytes is null ? null : Hash(bytes));
    }

    private static void Restrict(string path, bool directory)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, directory ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : Private);
        }
    }
}
