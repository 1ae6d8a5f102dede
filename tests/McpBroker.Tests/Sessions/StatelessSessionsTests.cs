using System.Text.Json;
using McpBroker.Sessions;
using McpBroker.Tests.Support;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Sessions;

/// <summary>
/// A stateless HTTP client's session (<see cref="StatelessSessions"/>) over a real per-session upstream: the id its
/// parts make, and when it ends (its upstream stopping with it) — on a clock the test moves.
/// </summary>
public sealed class StatelessSessionsTests
{
    private const string Config = """
        profiles:
          raw: { compact_tools_enabled: false }
        upstreams:
          ps: { command: "TEST_UPSTREAM", mode: per_session }
        """;

    [Fact]
    public void Enter_NamesOneSessionPerProfileTokenAndIdentity_WithNothingOfTheTokenInTheId()
    {
        using var sessions = new StatelessSessions(null!, new ManualTime());
        string Id(string profile, string token, string? handle, string? name, string? version)
        {
            using var lease = sessions.Enter(profile, token, handle, name, version);
            return lease.Id;
        }

        var alice = Id("raw", "token-1", null, "alice", "1");
        Assert.Equal(alice, Id("raw", "token-1", null, "alice", "1"));
        Assert.Equal(5, new[]
        {
            alice, Id("raw", "token-2", null, "alice", "1"), Id("other", "token-1", null, "alice", "1"), Id("raw", "token-1", null, "alice", "2"),
            Id("raw", "token-1", "alice", null, null),
        }.Distinct().Count());

        // A handle names the session whatever the client calls itself; parts cannot run into each other.
        Assert.Equal(Id("raw", "token-1", "h", "alice", "1"), Id("raw", "token-1", "h", "bob", "2"));
        Assert.NotEqual(Id("raw", "token-1", null, "a\n1", ""), Id("raw", "token-1", null, "a", "1\n"));
        Assert.DoesNotContain("token", alice, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASession_EndsRetentionAfterItsLastRequest_StoppingItsUpstream_ButNeverWhileARequestRuns()
    {
        await using var broker = await InProcessBroker.CreateAsync(Config.Replace("TEST_UPSTREAM", Repo.TestUpstream, StringComparison.Ordinal));
        var time = new ManualTime();
        using var sessions = new StatelessSessions(broker.Registry, time);

        int pid;
        string id;
        using (var lease = sessions.Enter("raw", "token", null, "alice", "1"))
        {
            id = lease.Id;
            pid = await PidAsync(broker, id);

            // In use: however long it runs, it is not ended.
            time.Advance(TimeSpan.FromHours(2));
            sessions.Sweep();
            Assert.Equal(1, sessions.Count);
        }

        time.Advance(StatelessSessions.Retention - TimeSpan.FromSeconds(1));
        sessions.Sweep();
        Assert.True(Processes.Alive(pid));
        using (var again = sessions.Enter("raw", "token", null, "alice", "1"))
        {
            Assert.Equal(pid, await PidAsync(broker, again.Id));
        }

        time.Advance(StatelessSessions.Retention);
        sessions.Sweep();
        Assert.Equal(0, sessions.Count);
        await Wait.UntilAsync(() => !Processes.Alive(pid), "the ended session's upstream to stop");
    }

    private static async Task<int> PidAsync(InProcessBroker broker, string session)
    {
        var result = await broker.Facade.CallToolAsync(broker.Profile("raw"), session, new CallToolRequestParams
        {
            Name = "ps.pid",
            Arguments = new Dictionary<string, JsonElement>(),
        }, CancellationToken.None);
        broker.RememberProcesses();
        return int.Parse(Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text);
    }

    /// <summary>A clock that moves only when told; its timers never fire (the test sweeps).</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _now, by.Ticks);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Never();

        private sealed class Never : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
