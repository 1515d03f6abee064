using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Support;

/// <summary>
/// A fixture that compares CPU backends of 1, 2 and 3 threads (the determinism rule: the same bits whatever the
/// thread count); the backends live for the fixture and are disposed after its last test.
/// </summary>
public abstract class ThreadCountFixture
{
    /// <summary>CPU backends with 1, 2 and 3 threads, in that order.</summary>
    protected readonly CpuBackend[] Backends = [new(1), new(2), new(3)];

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        foreach (var b in Backends) b.Dispose();
    }
}
