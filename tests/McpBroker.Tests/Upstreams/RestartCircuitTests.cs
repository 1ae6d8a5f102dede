using McpBroker.Config;
using McpBroker.Upstreams;
using Microsoft.Extensions.Time.Testing;

namespace McpBroker.Tests.Upstreams;

/// <summary>The restart policy on a fake clock: backoff doubling to its cap, the circuit opening and its cooldown, reset.</summary>
public sealed class RestartCircuitTests
{
    private static readonly RestartPolicy s_policy = new(MaxAttempts: 4, Backoff: TimeSpan.FromSeconds(1), MaxBackoff: TimeSpan.FromSeconds(3), Cooldown: TimeSpan.FromSeconds(60));

    [Fact]
    public void RecordFailure_First_AllowsAStartAtOnce()
    {
        var circuit = new RestartCircuit(s_policy, new FakeTimeProvider());

        Assert.Equal(RestartDecision.AtOnce, circuit.RecordFailure("crashed"));
        Assert.Null(circuit.WaitingUntil());
        Assert.Equal(1, circuit.Failures);
        Assert.Equal("crashed", circuit.LastError);
    }

    [Fact]
    public void RecordFailure_InARow_BacksOffDoublingUpToTheCap_AndWaitsUntilThen()
    {
        var clock = new FakeTimeProvider();
        var circuit = new RestartCircuit(s_policy with { MaxAttempts = 10 }, clock);
        circuit.RecordFailure("1");

        var waits = new List<TimeSpan>();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(RestartDecision.Backoff, circuit.RecordFailure("again"));
            var until = circuit.WaitingUntil();
            Assert.NotNull(until);
            waits.Add(until.Value - clock.GetUtcNow());
            clock.Advance(until.Value - clock.GetUtcNow() - TimeSpan.FromMilliseconds(1));
            Assert.NotNull(circuit.WaitingUntil()); // a moment before: still waiting
            clock.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Null(circuit.WaitingUntil()); // at the time: a start may happen
        }

        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3)], waits);
    }

    [Fact]
    public void RecordFailure_MaxAttempts_OpensTheCircuitForTheCooldown_AndAFailureAfterItOpensItAgain()
    {
        var clock = new FakeTimeProvider();
        var circuit = new RestartCircuit(s_policy, clock);
        for (var i = 1; i < s_policy.MaxAttempts; i++)
        {
            Assert.NotEqual(RestartDecision.CircuitOpen, circuit.RecordFailure($"failure {i}"));
        }

        Assert.Equal(RestartDecision.CircuitOpen, circuit.RecordFailure("last"));
        Assert.Equal(clock.GetUtcNow() + s_policy.Cooldown, circuit.WaitingUntil());

        clock.Advance(s_policy.Cooldown);
        Assert.Null(circuit.WaitingUntil());
        Assert.Equal(RestartDecision.CircuitOpen, circuit.RecordFailure("still broken"));
        Assert.Equal(clock.GetUtcNow() + s_policy.Cooldown, circuit.RetryAt);
        Assert.Equal(s_policy.MaxAttempts + 1, circuit.Failures);
    }

    [Fact]
    public void Reset_AfterTheCircuitOpened_AllowsAStartAndCountsAfresh_KeepingTheLastError()
    {
        var circuit = new RestartCircuit(s_policy, new FakeTimeProvider());
        for (var i = 0; i < s_policy.MaxAttempts; i++)
        {
            circuit.RecordFailure("down");
        }

        circuit.Reset();

        Assert.Null(circuit.WaitingUntil());
        Assert.Equal(0, circuit.Failures);
        Assert.Equal("down", circuit.LastError);
        Assert.Equal(RestartDecision.AtOnce, circuit.RecordFailure("down again"));
    }
}
