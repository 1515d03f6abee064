using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace Engine.Tests.Support;

/// <summary>
/// Runs FsCheck properties with a fixed replay seed, so every run of the suite tests the same cases and a failure
/// reproduces. FsCheck's failure message names the case and the seed; set ENGINE_FSCHECK_SEED=&lt;n&gt; to explore
/// other seeds, and ENGINE_FSCHECK_RUNS=&lt;n&gt; to run more (or fewer) cases per property.
/// </summary>
public static class Properties
{
    public const ulong DefaultSeed = 20261122;

    public static ulong Seed =>
        ulong.TryParse(Environment.GetEnvironmentVariable("ENGINE_FSCHECK_SEED"), out var seed) ? seed : DefaultSeed;

    private static int Runs(int runs) =>
        int.TryParse(Environment.GetEnvironmentVariable("ENGINE_FSCHECK_RUNS"), out var n) && n > 0 ? n : runs;

    /// <summary>Checks <paramref name="body"/> (which asserts) for <paramref name="runs"/> cases drawn from <paramref name="gen"/>.</summary>
    public static void Check<T>(Gen<T> gen, Action<T> body, int runs = 30)
    {
        var replay = new Replay(new Rnd(Seed), FSharpOption<int>.None);
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(Runs(runs))
            .WithReplay(FSharpOption<Replay>.Some(replay))
            .WithQuietOnSuccess(true)
            .WithName($"seed {Seed}");
        Prop.ForAll(gen.ToArbitrary(), body).Check(config);
    }

    /// <summary>A data seed for System.Random, drawn as part of the case so a failing case reproduces its data.</summary>
    public static Gen<int> DataSeed => Gen.Choose(0, int.MaxValue - 1);
}
