using CsCheck;

namespace McpBroker.Tests.Support;

/// <summary>
/// The fuzz suite's runs. CsCheck's <c>seed</c> fixes only the first iteration and draws the rest at random, so every
/// test run would try new inputs and a red run could be a new find rather than a regression. Here the whole sequence
/// comes from one PCG started at the seed: the same inputs every run. <c>MCP_BROKER_FUZZ=explore</c> hands the check to
/// CsCheck's own sampling instead (fresh inputs, ten times as many, shrinking what fails): run that to look for new
/// bugs, and keep what it finds as plain cases.
/// </summary>
internal static class Fuzz
{
    private static bool Exploring => Environment.GetEnvironmentVariable("MCP_BROKER_FUZZ") == "explore";

    public static void FuzzSample<T>(this Gen<T> gen, Action<T> assert, string seed, long iter, int threads, Func<T, string>? print = null)
    {
        if (Exploring)
        {
            gen.Sample(assert, iter: iter * 10, threads: threads, print: print);
            return;
        }

        var pcg = PCG.Parse(seed);
        for (var i = 0; i < iter; i++)
        {
            var input = gen.Generate(pcg, null!, out _);
            try
            {
                assert(input);
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"input {i} of seed {seed} fails: {ex.Message}\n{print?.Invoke(input) ?? input?.ToString()}", ex);
            }
        }
    }

    public static void FuzzSample<T1, T2, T3>(this Gen<(T1, T2, T3)> gen, Action<T1, T2, T3> assert, string seed, long iter, int threads) =>
        gen.FuzzSample(t => assert(t.Item1, t.Item2, t.Item3), seed, iter, threads);

    public static async Task FuzzSampleAsync<T>(this Gen<T> gen, Func<T, Task> assert, string seed, long iter, int threads)
    {
        if (Exploring)
        {
            await gen.SampleAsync(assert, iter: iter * 10, threads: threads);
            return;
        }

        var pcg = PCG.Parse(seed);
        for (var i = 0; i < iter; i++)
        {
            var input = gen.Generate(pcg, null!, out _);
            try
            {
                await assert(input);
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"input {i} of seed {seed} fails: {ex.Message}\n{input}", ex);
            }
        }
    }
}
