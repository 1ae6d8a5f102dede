using McpBroker.Config;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Config;

/// <summary>The daemon environment's file: what a capture writes, how it is read back, and what wins (Upstreams/DaemonEnvironment.cs).</summary>
public sealed class DaemonEnvironmentTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mb-env-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private BrokerModel Model() => ConfigLoader.Load($$"""
        schema_version: 1
        runtime: { root: "{{_root}}" }
        upstreams:
          a: { command: /bin/true, env_from: { KEY: PATH } }
          b: { command: /bin/true, env_from: { OTHER: MB_UNIT_SURELY_UNSET_VARIABLE } }
        """, Path.Combine(_root, "broker.yaml")).Model!;

    [LinuxFact]
    public void Capture_WritesOwnerOnlyNameValueLines_WithItsSource_AndReadsBackUnderThePasswdIdentity()
    {
        var model = Model();

        var names = DaemonEnvironment.Capture(model, "a test, from the shell");
        var read = DaemonEnvironment.Read(model.Runtime)!;

        Assert.Contains("PATH", names);
        Assert.DoesNotContain("MB_UNIT_SURELY_UNSET_VARIABLE", names); // not set here: not written, named by 'daemon env --capture'
        Assert.DoesNotContain("HOME", names); // identity is the passwd entry's, never captured
        var file = DaemonEnvironment.PathOf(model.Runtime);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal("a test, from the shell", read.Source);
        Assert.True(read.FromShell);
        Assert.NotNull(read.CapturedAt);
        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), read.Value("PATH"));
        Assert.Equal(Environment.UserName, read.Value("USER"));
        Assert.False(string.IsNullOrEmpty(read.Value("HOME")));
        Assert.Contains($"PATH={Environment.GetEnvironmentVariable("PATH")}\n", File.ReadAllText(file));
    }

    [Fact]
    public void Read_HandWrittenFile_ServiceEnvWins_ValuesKeepTheirEqualsSigns_AndAFirstStartIsNotTheShell()
    {
        var model = Model();
        Directory.CreateDirectory(model.Runtime.SecretsDir);
        Assert.Null(DaemonEnvironment.Read(model.Runtime));

        File.WriteAllText(DaemonEnvironment.PathOf(model.Runtime), "# mine\nPATH=/a:/b\nTOKEN=x=y==\nHOME=/elsewhere\nnot a line\n");
        File.WriteAllText(Path.Combine(model.Runtime.SecretsDir, DaemonEnvironment.ServiceFileName), "PATH=/service\n");
        var read = DaemonEnvironment.Read(model.Runtime)!;

        Assert.Equal("written by hand", read.Source);
        Assert.True(read.FromShell);
        Assert.True(read.ServiceFile);
        Assert.Equal("/service", read.Value("PATH"));
        Assert.Equal("x=y==", read.Value("TOKEN"));
        Assert.Equal("/elsewhere", read.Value("HOME")); // set in the file by hand: over the passwd entry
        Assert.DoesNotContain("not a line", read.Names);

        File.Delete(DaemonEnvironment.PathOf(model.Runtime));
        var loaded = DaemonEnvironment.Load(model, "mcp-broker-client --client codex (pid 42)");
        Assert.False(loaded.FromShell);
        Assert.Equal("the first daemon start, from the environment of mcp-broker-client --client codex (pid 42)", loaded.Source);
    }
}
