using System.Text.Json;
using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>
/// What <see cref="ConfigLoader"/> gives around the model: a file it cannot read, the runtime section of a config
/// with errors elsewhere (what status, stop and logs still use), and the settings spelled as a boolean or a word.
/// </summary>
public sealed class ConfigLoaderTests
{
    private const string Head = "schema_version: 1\nruntime: { root: /tmp/mb-loader }\n";

    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load(yaml, "/etc/broker.yaml", _ => null);

    [Fact]
    public void LoadFile_AMissingFile_IsOneErrorSayingHowToCreateOne()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mb-missing-{Guid.NewGuid():N}", "broker.yaml");

        var result = ConfigLoader.LoadFile(path);

        Assert.Null(result.Model);
        Assert.Null(result.Runtime);
        var error = Assert.Single(result.Issues);
        Assert.Equal(IssueSeverity.Error, error.Severity);
        Assert.Equal("", error.Path);
        Assert.True(result.Missing);
        // No .NET exception text ("Could not find a part of the path"): the path and the next step.
        Assert.Equal($"no config at {path}; run 'mcp-broker config init' to write a commented starter there (or pass --config PATH, or set MCP_BROKER_CONFIG)", error.Message);
    }

    [Fact]
    public void LoadFile_ADirectory_IsOneErrorWithoutTheCreateHint()
    {
        var dir = Directory.CreateTempSubdirectory("mb-dir-").FullName;
        try
        {
            var result = ConfigLoader.LoadFile(dir);

            var error = Assert.Single(result.Issues);
            Assert.False(result.Missing);
            Assert.StartsWith($"cannot read {dir}: ", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("config init", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    [Theory]
    [InlineData("profiles:\n  p: { max_tools: many }\n")]
    [InlineData("surprise: 1\n")]
    public void Load_ErrorsOutsideTheRuntimeSection_StillGiveItsRuntime(string rest)
    {
        var result = Load(Head + rest);

        Assert.Null(result.Model);
        Assert.Equal("/tmp/mb-loader", result.Runtime?.Root);
        Assert.Equal("/tmp/mb-loader/sockets/broker.sock", result.Runtime?.SocketPath);
    }

    [Theory]
    [InlineData("schema_version: 1\nruntime: { root: relative/root }\n")]
    [InlineData("schema_version: 1\nruntime: { root: /tmp/mb-loader, surprise: 1 }\n")]
    [InlineData("schema_version: 1\nruntime: []\n")]
    public void Load_ErrorsInTheRuntimeSection_GiveNoRuntime(string yaml)
    {
        var result = Load(yaml);

        Assert.NotEmpty(result.Errors);
        Assert.Null(result.Runtime);
    }

    [Fact]
    public void Load_AValidConfig_GivesTheModelsRuntime()
    {
        var result = Load(Head);

        Assert.NotNull(result.Model);
        Assert.Same(result.Model.Runtime, result.Runtime);
    }

    [Theory]
    [InlineData("trust_on_first_use", PinSetting.TrustOnFirstUse)]
    [InlineData("true", PinSetting.True)]
    [InlineData("false", PinSetting.False)]
    public void Load_PinTools_IsABooleanOrTrustOnFirstUse(string written, PinSetting expected)
    {
        var result = Load(Head + $"upstreams:\n  u: {{ command: /bin/true, pin_tools: {written} }}\n");

        Assert.Equal(expected, result.Model!.FindUpstream("u")!.PinTools);
    }

    [Theory]
    [InlineData("mutating: sometimes", "upstreams.u.mutating")]
    [InlineData("pin_tools: auto", "upstreams.u.pin_tools")]
    public void Load_ABoolOrWordSettingWithAnotherWord_IsOneErrorAtItsPath(string setting, string path)
    {
        var result = Load(Head + $"upstreams:\n  u: {{ command: /bin/true, {setting} }}\n");

        Assert.Equal(path, Assert.Single(result.Errors).Path);
    }

    [Fact]
    public void BoolOrWordSettings_WriteBackAsTheyAreWritten()
    {
        var json = JsonSerializer.Serialize(new[] { MutatingSetting.True, MutatingSetting.False, MutatingSetting.Auto });
        var pins = JsonSerializer.Serialize(new[] { PinSetting.True, PinSetting.False, PinSetting.TrustOnFirstUse });

        Assert.Equal("""[true,false,"auto"]""", json);
        Assert.Equal("""[true,false,"trust_on_first_use"]""", pins);
        Assert.Equal([MutatingSetting.True, MutatingSetting.False, MutatingSetting.Auto], JsonSerializer.Deserialize<MutatingSetting[]>(json));
        Assert.Equal([PinSetting.True, PinSetting.False, PinSetting.TrustOnFirstUse], JsonSerializer.Deserialize<PinSetting[]>(pins));
    }

    [Theory]
    [InlineData("3")]
    [InlineData("\"sometimes\"")]
    [InlineData("null")]
    public void BoolOrWordSettings_ReadNothingElse(string json)
    {
        var error = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<MutatingSetting>(json));

        Assert.Contains("expected one of true, false, auto", error.Message, StringComparison.Ordinal);
    }
}
