using System.Text.Json.Nodes;
using System.Threading.Channels;
using McpBroker.Facade;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Facade;

/// <summary>The notes a waiting request sends while upstreams start (Facade/StartProgress.cs), on a clock the test moves.</summary>
public sealed class StartProgressTests
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WhileAsync_WorkDoneWithinASecond_SendsNothing()
    {
        var time = new ManualTime();
        var notes = Channel.CreateUnbounded<JsonObject>();
        var work = new TaskCompletionSource<int>();

        var waiting = StartProgress.WhileAsync(work.Task, () => ["a"], Note(notes), time, CancellationToken.None);
        await time.TimerCreated.WaitAsync(s_limit);
        work.SetResult(7);

        Assert.Equal(7, await waiting.WaitAsync(s_limit));
        Assert.False(notes.Reader.TryRead(out _));
    }

    [Fact]
    public async Task WhileAsync_EachSecondOfAStart_NamesTheStartingUpstreams_WithIncreasingValuesBelowOne()
    {
        var time = new ManualTime();
        var notes = Channel.CreateUnbounded<JsonObject>();
        var work = new TaskCompletionSource<int>();
        string[] starting = [];

        var waiting = StartProgress.WhileAsync(work.Task, () => starting, Note(notes), time, CancellationToken.None);

        // A second in which nothing starts (the upstream is queued, or failing): no note.
        await time.TimerCreated.WaitAsync(s_limit);
        time.Advance(StartProgress.Interval);
        await time.TimerCreated.WaitAsync(s_limit);
        Assert.False(notes.Reader.TryRead(out _));

        starting = ["memory (npx)", "t"];
        time.Advance(StartProgress.Interval);
        var first = await notes.Reader.ReadAsync().AsTask().WaitAsync(s_limit);
        await time.TimerCreated.WaitAsync(s_limit);
        starting = ["memory (npx)"];
        time.Advance(StartProgress.Interval);
        var second = await notes.Reader.ReadAsync().AsTask().WaitAsync(s_limit);
        await time.TimerCreated.WaitAsync(s_limit);
        time.Advance(StartProgress.Interval);
        var third = await notes.Reader.ReadAsync().AsTask().WaitAsync(s_limit);
        work.SetResult(1);

        Assert.Equal(1, await waiting.WaitAsync(s_limit));
        Assert.Equal([0.5, 0.75, 0.875], new[] { first, second, third }.Select(n => n["progress"]!.GetValue<double>()));
        Assert.All(new[] { first, second, third }, n => Assert.Null(n["total"]));
        Assert.Equal("starting memory (npx), t: 2 s", first["message"]!.GetValue<string>());
        Assert.Equal("starting memory (npx): 3 s (a package runner downloads the server on its first start)", second["message"]!.GetValue<string>());
        Assert.Equal("starting memory (npx): 4 s (a package runner downloads the server on its first start)", third["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task WhileAsync_RequestCancelled_StopsTheNotesAtOnce_AndEndsAsTheWorkEnds()
    {
        var time = new ManualTime();
        var notes = Channel.CreateUnbounded<JsonObject>();
        var work = new TaskCompletionSource<int>();
        using var cancel = new CancellationTokenSource();
        var asked = 0;

        var waiting = StartProgress.WhileAsync(work.Task, () => { Interlocked.Increment(ref asked); return ["a"]; }, Note(notes), time, cancel.Token);
        await time.TimerCreated.WaitAsync(s_limit);
        await cancel.CancelAsync();
        time.Advance(TimeSpan.FromSeconds(5));
        work.SetCanceled(cancel.Token);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(s_limit));
        Assert.Equal(0, asked);
        Assert.False(notes.Reader.TryRead(out _));
    }

    [Fact]
    public async Task WhileAsync_NoProgressToken_OnlyAwaitsTheWork()
    {
        var time = new ManualTime();
        var work = new TaskCompletionSource<int>();

        var waiting = StartProgress.WhileAsync(work.Task, () => throw new InvalidOperationException("not asked without a token"), null, time, CancellationToken.None);
        work.SetResult(3);

        Assert.Equal(3, await waiting.WaitAsync(s_limit));
        Assert.Equal(0, time.Timers);
    }

    [Theory]
    [InlineData("memory", "npx", "memory (npx)")]
    [InlineData("git", "/usr/local/bin/uvx", "git (uvx)")]
    [InlineData("t", "/opt/test-upstream", "t")]
    [InlineData("web", null, "web")]
    public void Label_NamesThePackageRunner(string upstream, string? command, string expected) =>
        Assert.Equal(expected, StartProgress.Label(upstream, command));

    private static Func<JsonObject, ValueTask> Note(Channel<JsonObject> notes) => note => notes.Writer.WriteAsync(note);
}
