using System.Text.Json;
using McpBroker.Config;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Config;

/// <summary>broker.max_message_bytes and broker.max_search_query_chars: their defaults, their range, and where they reach.</summary>
public sealed class LimitsConfigTests
{
    private static ConfigLoadResult Load(string broker) => ConfigLoader.Load(
        $"schema_version: 1\nruntime: {{ root: /tmp/mb-limits }}\n{broker}\nupstreams:\n  u: {{ command: /bin/true }}\n", "/etc/broker.yaml", _ => null);

    [Fact]
    public void Limits_Unset_AreTheDefaults_AndReachEveryUpstreamAndProfile()
    {
        var model = Load("").Model!;
        Assert.Equal(16 * 1024 * 1024, model.Settings.MaxMessageBytes);
        Assert.Equal(1000, model.Settings.MaxSearchQueryChars);
        Assert.Equal(16 * 1024 * 1024, model.Upstreams.Single().MaxMessageBytes);
        Assert.Equal(1000, model.Profiles["default"].MaxSearchQueryChars);
    }

    [Fact]
    public void Limits_Set_ReachEveryUpstreamAndProfile()
    {
        var model = Load("broker: { max_message_bytes: 65536, max_search_query_chars: 16 }").Model!;
        Assert.Equal(65536, model.Upstreams.Single().MaxMessageBytes);
        Assert.Equal(16, model.Profiles["default"].MaxSearchQueryChars);
    }

    [Theory]
    [InlineData("max_message_bytes: 65535", "broker.max_message_bytes", "65535 is out of range: use 65536 to 1073741824 bytes; 16777216 (16 MiB) is the default")]
    [InlineData("max_message_bytes: 1073741825", "broker.max_message_bytes", "1073741825 is out of range: use 65536 to 1073741824 bytes; 16777216 (16 MiB) is the default")]
    [InlineData("max_search_query_chars: 15", "broker.max_search_query_chars", "15 is out of range: use 16 to 100000 characters; 1000 is the default")]
    public void Limits_OutOfRange_AreOneErrorSayingTheRange(string setting, string path, string message)
    {
        var issue = Assert.Single(Load($"broker: {{ {setting} }}").Issues);
        Assert.Equal(IssueSeverity.Error, issue.Severity);
        Assert.Equal(path, issue.Path);
        Assert.StartsWith(message + " (line ", issue.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchQuery_LongerThanTheLimit_IsRefusedSayingTheLimit_AndOneAtTheLimitIsSearched()
    {
        await using var broker = await InProcessBroker.CreateAsync("broker: { max_search_query_chars: 20 }\nprofiles:\n  compact: { compact_tools_enabled: true }\n");
        async Task<CallToolResult> SearchAsync(string query) => await broker.Facade.CallToolAsync(broker.Profile("compact"), "s", new CallToolRequestParams
        {
            Name = "broker.search_tools",
            Arguments = new Dictionary<string, JsonElement> { ["query"] = JsonSerializer.SerializeToElement(query) },
        }, CancellationToken.None);

        var refused = await SearchAsync(new string('q', 21));
        Assert.True(refused.IsError);
        var error = JsonDocument.Parse(Assert.IsType<TextContentBlock>(Assert.Single(refused.Content)).Text).RootElement.GetProperty("error");
        Assert.Equal("invalid_arguments", error.GetProperty("code").GetString());
        Assert.Equal("'query' is 21 characters long; at most 20 are searched", error.GetProperty("message").GetString());
        Assert.Contains("broker.max_search_query_chars", error.GetProperty("hint").GetString(), StringComparison.Ordinal);

        Assert.NotEqual(true, (await SearchAsync(new string('q', 20))).IsError);
    }
}
