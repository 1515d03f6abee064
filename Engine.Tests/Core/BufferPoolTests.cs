using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>The CPU backend's pool of released buffers: reused by length, bounded in bytes, emptied on dispose.</summary>
[TestFixture]
public sealed class BufferPoolTests
{
    [Test]
    public void AReleasedBufferIsReusedForTheSameLength()
    {
        using var backend = new CpuBackend(1);
        var first = backend.Allocate(1000);
        backend.Release(first);
        Assert.That(backend.PooledBytes, Is.EqualTo(4000));
        long misses = backend.PoolMisses;
        backend.Release(backend.Allocate(1000));
        Assert.That(backend.PoolMisses, Is.EqualTo(misses), "the second allocation came from the pool");
        Assert.That(backend.PooledBytes, Is.EqualTo(4000));
    }

    [Test]
    public void ThePoolKeepsNoMoreThanItsLimit()
    {
        // Room for two buffers of 1,000 floats: the third release goes to the GC, so distinct sizes cannot pile up.
        using var backend = new CpuBackend(1, maxPooledBytes: 8000);
        var buffers = new[] { backend.Allocate(1000), backend.Allocate(1000), backend.Allocate(1000) };
        foreach (var buffer in buffers) backend.Release(buffer);
        Assert.That(backend.PooledBytes, Is.EqualTo(8000));
        for (int size = 1; size <= 100; size++) backend.Release(backend.Allocate(size * 10));
        Assert.That(backend.PooledBytes, Is.LessThanOrEqualTo(8000));

        long misses = backend.PoolMisses;
        var reused = new[] { backend.Allocate(1000), backend.Allocate(1000), backend.Allocate(1000) };
        Assert.That(backend.PoolMisses - misses, Is.EqualTo(1), "two came from the pool, the dropped one is allocated again");
        foreach (var buffer in reused) backend.Release(buffer);
    }

    [Test]
    public void DisposeEmptiesThePoolAndANegativeLimitIsRefused()
    {
        var backend = new CpuBackend(1);
        backend.Release(backend.Allocate(256));
        backend.Dispose();
        Assert.That(backend.PooledBytes, Is.Zero);
        var e = Assert.Throws<ArgumentException>(() => new CpuBackend(1, maxPooledBytes: -1));
        Assert.That(e!.Message, Does.Contain("non-negative pool size").And.Contain("-1"));
    }
}
