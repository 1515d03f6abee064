using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>
/// The worker pool's For: every index in [0, count) runs exactly once, whatever the count (fewer, as many or many more
/// chunks than threads: the runs of indices threads take shrink as the work runs out) and the thread count, call
/// after call on the same pool; on several threads a failing chunk surfaces as an AggregateException once every chunk
/// has run, and the pool keeps working.
/// </summary>
[TestFixture]
public sealed class WorkerPoolTests
{
    [Test]
    public void EveryIndexRunsExactlyOnce([Values(1, 2, 3, 4)] int threads)
    {
        using var pool = new WorkerPool(threads);
        foreach (int count in new[] { 1, 2, 3, 5, 7, 16, 64, 257, 1000 })
            for (int repeat = 0; repeat < 20; repeat++)
            {
                var runs = new int[count];
                // on a task: a call that never returns (a chunk never run) fails the test instead of hanging it
                var call = Task.Run(() => pool.For(count, runs, static (r, i) => Interlocked.Increment(ref r[i])));
                Assert.That(call.Wait(TimeSpan.FromSeconds(30)), Is.True, $"{threads} threads, count {count}: For did not return within 30 s");
                int wrong = Array.FindIndex(runs, r => r != 1);
                Assert.That(wrong, Is.EqualTo(-1), $"{threads} threads, count {count}, call {repeat}: index {wrong} ran {(wrong < 0 ? 0 : runs[wrong])} times, expected once");
            }
    }

    [Test]
    public void AFailingChunkSurfacesAfterEveryChunkRan([Values(2, 3)] int threads)
    {
        using var pool = new WorkerPool(threads);
        var runs = new int[100];
        var error = Assert.Throws<AggregateException>(() => pool.For(100, runs, static (r, i) =>
        {
            Interlocked.Increment(ref r[i]);
            if (i == 37) throw new InvalidOperationException("chunk 37 failed");
        }));
        Assert.That(error!.InnerException?.Message, Is.EqualTo("chunk 37 failed"));
        Assert.That(runs, Is.All.EqualTo(1), "every chunk, the failing one included, runs exactly once");
        var again = new int[50];
        pool.For(50, again, static (r, i) => Interlocked.Increment(ref r[i]));
        Assert.That(again, Is.All.EqualTo(1), "the pool runs the next call after a failure");
    }

    /// <summary>One thread runs the chunks in order on the caller: a failure propagates as it was thrown.</summary>
    [Test]
    public void OneThreadPropagatesAFailureAsThrown()
    {
        using var pool = new WorkerPool(1);
        var runs = new int[10];
        var error = Assert.Throws<InvalidOperationException>(() => pool.For(10, runs, static (r, i) =>
        {
            r[i]++;
            if (i == 3) throw new InvalidOperationException("chunk 3 failed");
        }));
        Assert.That(error!.Message, Is.EqualTo("chunk 3 failed"));
        Assert.That(runs, Is.EqualTo(new[] { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }));
    }
}
