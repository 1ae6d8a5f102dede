using System.Collections.Frozen;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace McpBroker.Config;

/// <summary>
/// The environment the daemon gives its upstreams and reads <c>env_from</c> variables from, the same whichever client's
/// shim started the daemon (README, "The daemon's environment"). Three sources, later ones winning:
/// the user's passwd entry (HOME, USER, LOGNAME, SHELL: never a client's), the captured file
/// <c>{runtime.secrets_dir}/daemon.env</c> (PATH, locale, proxies, caches and every variable an <c>env_from</c> names,
/// as they were where the capture ran), and <c>{runtime.secrets_dir}/service.env</c> (what the user writes by hand;
/// a systemd unit reads it too). The capture runs from the user's shell with <c>mcp-broker daemon env --capture</c>,
/// or, when there is no file yet, at the daemon's first start, from the environment it was started with (and says so).
/// </summary>
public sealed partial class DaemonEnvironment
{
    public const string FileName = "daemon.env";
    public const string ServiceFileName = "service.env";

    /// <summary>Who the user is, from the passwd entry: a client that runs with another HOME does not move the npx cache.</summary>
    public static readonly string[] Identity = ["HOME", "USER", "LOGNAME", "SHELL"];

    /// <summary>What a capture takes besides the variables <c>env_from</c> names: what upstream commands need to resolve and run.</summary>
    public static readonly string[] Captured =
        ["PATH", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
         "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
         "npm_config_cache", "npm_config_registry", "DOTNET_ROOT"];

    /// <summary>Set by the shim when it starts a daemon: named as the source of a capture made at that start.</summary>
    public const string StartedByVariable = "MCP_BROKER_STARTED_BY";

    private const string SourceHeader = "# source: ";
    private const string FirstStart = "the first daemon start";
    private const string CapturedHeader = "# captured_at: ";

    private static DaemonEnvironment? s_current;

    private readonly FrozenDictionary<string, string> _values;

    private DaemonEnvironment(FrozenDictionary<string, string> values, string file, string source, DateTimeOffset? capturedAt, bool fromShell, bool serviceFile)
    {
        _values = values;
        File = file;
        Source = source;
        CapturedAt = capturedAt;
        FromShell = fromShell;
        ServiceFile = serviceFile;
    }

    /// <summary>The captured file.</summary>
    public string File { get; }

    /// <summary>Where the captured file came from, in words: "mcp-broker daemon env --capture", or the first daemon start and who started it.</summary>
    public string Source { get; }

    public DateTimeOffset? CapturedAt { get; }

    /// <summary>False when the capture was made at a daemon start, from a client's environment rather than the user's shell.</summary>
    public bool FromShell { get; }

    /// <summary>Whether service.env was there and read too.</summary>
    public bool ServiceFile { get; }

    /// <summary>The names it sets (never the values: some are secrets).</summary>
    public IEnumerable<string> Names => _values.Keys.Order(StringComparer.Ordinal);

    /// <summary>The daemon's environment in this process; null outside a daemon (tests in-process, the CLI).</summary>
    public static DaemonEnvironment? Current => s_current;

    /// <summary>From now on upstreams of this process get <paramref name="environment"/> (the daemon calls this once, at start).</summary>
    public static void Use(DaemonEnvironment? environment) => s_current = environment;

    /// <summary>A variable as upstreams see it: from the daemon's environment, or this process's where there is none.</summary>
    public static string? Get(string name) => s_current is { } current ? current._values.GetValueOrDefault(name) : Environment.GetEnvironmentVariable(name);

    /// <summary>A variable of this environment.</summary>
    public string? Value(string name) => _values.GetValueOrDefault(name);

    public static string PathOf(RuntimeModel runtime) => Path.Combine(runtime.SecretsDir, FileName);

    /// <summary>
    /// The daemon's environment for <paramref name="model"/>: the captured file (captured now from this process when it
    /// does not exist, attributed to <paramref name="startedBy"/>), under the passwd identity, with service.env over it.
    /// </summary>
    public static DaemonEnvironment Load(BrokerModel model, string? startedBy)
    {
        var path = PathOf(model.Runtime);
        if (!System.IO.File.Exists(path))
        {
            Capture(model, $"{FirstStart}, from the environment of {startedBy ?? "the process that started it"}");
        }

        return Read(model.Runtime)!;
    }

    /// <summary>What a daemon would use now (for doctor and 'daemon env'), or null when nothing was captured yet.</summary>
    public static DaemonEnvironment? Read(RuntimeModel runtime)
    {
        var path = PathOf(runtime);
        if (!System.IO.File.Exists(path))
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in Passwd())
        {
            values[name] = value;
        }

        var (captured, source, capturedAt) = ReadFile(path);
        foreach (var (name, value) in captured)
        {
            values[name] = value;
        }

        var service = Path.Combine(runtime.SecretsDir, ServiceFileName);
        var hasService = System.IO.File.Exists(service);
        if (hasService)
        {
            foreach (var (name, value) in ReadFile(service).Values)
            {
                values[name] = value;
            }
        }

        return new DaemonEnvironment(values.ToFrozenDictionary(StringComparer.Ordinal), path, source ?? "written by hand", capturedAt,
            fromShell: source is null || !source.StartsWith(FirstStart, StringComparison.Ordinal), hasService);
    }

    /// <summary>
    /// Writes the captured file (0600) from this process's environment: <see cref="Captured"/> and every variable an
    /// <c>env_from</c> of <paramref name="model"/> names, where set. Returns the names written.
    /// </summary>
    public static IReadOnlyList<string> Capture(BrokerModel model, string source)
    {
        var names = Captured.Concat(model.Upstreams.SelectMany(u => u.EnvFrom.Values)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Where(name => Environment.GetEnvironmentVariable(name) is { } value && !value.Contains('\n', StringComparison.Ordinal)).ToList();
        var text = new StringBuilder()
            .AppendLine("# The environment of the mcp-broker daemon and its upstreams (README, \"The daemon's environment\").")
            .AppendLine("# NAME=value lines, one a line, values as they are (no quotes, no expansion). HOME, USER, LOGNAME and SHELL come from")
            .AppendLine("# the passwd entry unless set here. Recapture from your shell: mcp-broker daemon env --capture")
            .AppendLine(CultureInfo.InvariantCulture, $"{SourceHeader}{source}")
            .AppendLine(CultureInfo.InvariantCulture, $"{CapturedHeader}{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}");
        foreach (var name in names)
        {
            text.Append(name).Append('=').AppendLine(Environment.GetEnvironmentVariable(name));
        }

        model.Runtime.EnsureCreated();
        var path = PathOf(model.Runtime);
        var temp = path + ".tmp";
        System.IO.File.Delete(temp);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // some values are secrets
        }

        using (var stream = new FileStream(temp, options))
        {
            stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
        }

        System.IO.File.Move(temp, path, overwrite: true);
        return names;
    }

    private static (Dictionary<string, string> Values, string? Source, DateTimeOffset? CapturedAt) ReadFile(string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string? source = null;
        DateTimeOffset? capturedAt = null;
        foreach (var line in System.IO.File.ReadLines(path))
        {
            if (line.StartsWith(SourceHeader, StringComparison.Ordinal))
            {
                source = line[SourceHeader.Length..];
            }
            else if (line.StartsWith(CapturedHeader, StringComparison.Ordinal)
                && DateTimeOffset.TryParse(line[CapturedHeader.Length..], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            {
                capturedAt = at;
            }
            else if (!line.StartsWith('#') && line.IndexOf('=', StringComparison.Ordinal) is > 0 and var equals)
            {
                values[line[..equals].Trim()] = line[(equals + 1)..];
            }
        }

        return (values, source, capturedAt);
    }

    /// <summary>HOME, USER, LOGNAME and SHELL of the user this process runs as, from the passwd database (empty where there is none).</summary>
    private static Dictionary<string, string> Passwd()
    {
        var identity = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            foreach (var name in Identity)
            {
                if (Environment.GetEnvironmentVariable(name) is { } value)
                {
                    identity[name] = value;
                }
            }

            return identity;
        }

        unsafe
        {
            var entry = (nint*)getpwuid(getuid());
            if (entry is null)
            {
                return identity;
            }

            // struct passwd: name, passwd, uid+gid, then on Linux gecos, dir, shell; on macOS change, class, gecos, dir, shell.
            var (dir, shell) = OperatingSystem.IsMacOS() ? (entry[6], entry[7]) : (entry[4], entry[5]);
            if (Marshal.PtrToStringUTF8(entry[0]) is { Length: > 0 } user)
            {
                identity["USER"] = user;
                identity["LOGNAME"] = user;
            }

            if (Marshal.PtrToStringUTF8(dir) is { Length: > 0 } home)
            {
                identity["HOME"] = home;
            }

            if (Marshal.PtrToStringUTF8(shell) is { Length: > 0 } login)
            {
                identity["SHELL"] = login;
            }
        }

        return identity;
    }

    [LibraryImport("libc")]
    private static partial uint getuid();

    [LibraryImport("libc")]
    private static partial nint getpwuid(uint uid);
}
