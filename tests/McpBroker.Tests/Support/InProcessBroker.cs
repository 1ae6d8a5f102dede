using McpBroker.Catalog;
using McpBroker.Config;
using McpBroker.Facade;
using McpBroker.Upstreams;
using Microsoft.Extensions.Logging.Abstractions;

namespace McpBroker.Tests.Support;

/// <summary>
/// The daemon's session-facing parts (registry, catalog, facade) wired in the test process, without socket, shim or
/// host, over real upstream processes: what the facade does can be checked, measured and mutation-tested in-process.
/// Disposing stops every upstream and asserts that none of them runs on.
/// </summary>
internal sealed class InProcessBroker : IAsyncDisposable
{
    private readonly HashSet<int> _seenPids = [];

    private InProcessBroker(string root, BrokerModel model, TimeProvider time)
    {
        Root = root;
        Model = model;
        Records = new ProcessRecords(model.Runtime.RunDir);
        Registry = new UpstreamRegistry(model, NullLoggerFactory.Instance, time, Records);
        Catalog = new ToolCatalog(Registry, model.Runtime, NullLogger<ToolCatalog>.Instance, time);
        Calls = new McpBroker.Telemetry.CallLog(time);
        Facade = new BrokerFacade(Registry, Catalog, new BrokerResources(Registry), Calls);
    }

    public string Root { get; }

    public BrokerModel Model { get; }

    public ProcessRecords Records { get; }

    public UpstreamRegistry Registry { get; }

    public ToolCatalog Catalog { get; }

    public McpBroker.Telemetry.CallLog Calls { get; }

    public BrokerFacade Facade { get; }

    /// <summary>
    /// A broker over <paramref name="body"/>: the config's profiles and upstreams sections (YAML, unindented), with its
    /// runtime root at <paramref name="root"/> (made here; a new temporary folder when null), on <paramref name="time"/>
    /// (the system clock when null; a FakeTimeProvider where the outcome depends on time passing).
    /// </summary>
    public static async Task<InProcessBroker> CreateAsync(string body, string? root = null, TimeProvider? time = null)
    {
        await NpmUpstreams.EnsureInstalledAsync();
        root = root is null ? Directory.CreateTempSubdirectory("mbip-").FullName : Directory.CreateDirectory(root).FullName;
        var loaded = ConfigLoader.Load($"schema_version: 1\nruntime: {{ root: \"{root}\" }}\n{body}", Path.Combine(root, "broker.yaml"));
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Issues));
        return new InProcessBroker(root, loaded.Model!, time ?? TimeProvider.System);
    }

    public ProfileModel Profile(string name) => Model.Profiles[name];

    /// <summary>Notes every upstream process now on record, so disposing can check each of them ended.</summary>
    public void RememberProcesses()
    {
        foreach (var record in Records.Read())
        {
            _seenPids.Add(record.Pid);
        }
    }

    public async ValueTask DisposeAsync()
    {
        RememberProcesses();
        try
        {
            await Registry.DisposeAsync();
            Assert.Empty(Records.Read());
            await Wait.UntilAsync(() => !_seenPids.Any(Processes.Alive), "every upstream process to exit", TimeSpan.FromSeconds(30));
        }
        finally
        {
            foreach (var pid in _seenPids.Where(Processes.Alive))
            {
                Processes.Kill(pid, 9);
            }

            Directory.Delete(Root, recursive: true);
        }
    }
}
