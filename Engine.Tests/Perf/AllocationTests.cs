using Engine.Cpu;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Tests.Inference;
using NUnit.Framework;

namespace Engine.Tests.Perf;

/// <summary>
/// GC allocations of a steady-state training step (forward, cross-entropy, backward, SGD with momentum, zero grad) on
/// the CPU backend, counted exactly on the calling thread and on the backend's worker threads (each thread's own
/// counter; see <see cref="PredictorAllocationTests.PerCall"/>), for LeNet-5 and for models with batch norm and
/// residual additions (resnet20) or batch norm and dropout (vgg_small), on one and two threads.
/// <para>In a <see cref="Scope.BeginRecycling"/> step nothing is allocated: float buffers come from the backend's pool,
/// the worker pool dispatches without allocating, ops record their backward as structs in pooled nodes, the backward
/// pass recycles the gradients it passes between nodes, and the step's tensor handles and scope object go back to the
/// thread's free lists. In a <see cref="Scope.Begin"/> step (which never reuses a handle user code may still hold)
/// what is left is one handle per tensor made in the forward pass, and the scope object.</para>
/// </summary>
[TestFixture]
public sealed class AllocationTests
{
    /// <summary>Bytes per step after warm-up, and the buffers the backend had to allocate fresh while measuring.</summary>
    public static (PredictorAllocationTests.Bytes Bytes, long FreshBuffers) PerTrainingStep<TScope>(CpuBackend backend, Module model, Shape input,
        Func<TScope> openScope, Action? extra = null) where TScope : IDisposable
    {
        model.To(backend);
        model.Train();
        var optimizer = new Sgd(model.Parameters(), 0.01f, momentum: 0.9f);
        var images = new Generator(8).Uniform(input.Size, -1f, 1f);
        var labels = Enumerable.Range(0, input.Batch).Select(i => i % 10).ToArray();
        void Step()
        {
            using var scope = openScope();
            var x = Tensor.FromArray(backend, images, input);
            optimizer.ZeroGrad();
            var loss = Ops.CrossEntropy(model.Forward(x), labels);
            loss.Backward();
            optimizer.Step();
            extra?.Invoke();
        }
        for (int i = 0; i < 3; i++) Step();
        long misses = backend.PoolMisses;
        var bytes = PredictorAllocationTests.PerCall(backend, Step);
        return (bytes, backend.PoolMisses - misses);
    }

    private static (PredictorAllocationTests.Bytes Bytes, long FreshBuffers) Measure(string name, int batch, int size, int threads, bool recycling, Action? extra = null)
    {
        using var backend = new CpuBackend(threads);
        Assert.That(backend.Threads, Is.EqualTo(threads));
        var entry = ModelZoo.Find(name);
        var model = ModelZoo.Create(name, generator: new Generator(7));
        var input = new Shape(batch, entry.DefaultChannels, size, size);
        var result = recycling
            ? PerTrainingStep(backend, model, input, Scope.BeginRecycling, extra)
            : PerTrainingStep(backend, model, input, Scope.Begin, extra);
        TestContext.Out.WriteLine($"{name} training step, batch {batch}, {threads} threads, {(recycling ? "Scope.BeginRecycling" : "Scope.Begin")}: " +
            $"{result.Bytes} per step; {result.FreshBuffers} fresh buffers while measuring");
        return result;
    }

    [TestCase("lenet5", 64, 28, 1)]
    [TestCase("lenet5", 64, 28, 2)]
    [TestCase("resnet20", 4, 32, 1)]
    [TestCase("resnet20", 4, 32, 2)]
    [TestCase("vgg_small", 8, 28, 2)]
    public void ARecyclingTrainingStepAllocatesNothing(string name, int batch, int size, int threads)
    {
        var (bytes, fresh) = Measure(name, batch, size, threads, recycling: true);
        Assert.That(fresh, Is.Zero, "fresh buffers while measuring (every buffer of a steady-state step comes from the pool)");
        Assert.That(bytes.ThisThread, Is.Zero, "bytes per training step, calling thread");
        Assert.That(bytes.Workers, Is.Zero, "bytes per training step, worker threads");
    }

    /// <summary>
    /// The measurement sees a single object: the same step plus one 24-byte allocation reads 24 bytes per step, so
    /// the zero above is not an instrument that cannot fail.
    /// </summary>
    [Test]
    public void OneAddedAllocationPerStepIsSeen()
    {
        var (bytes, _) = Measure("lenet5", 64, 28, 2, recycling: true, extra: static () => GC.KeepAlive(new object()));
        Assert.That(bytes.ThisThread, Is.EqualTo(24), "bytes per step with one new object() added to the step");
    }

    /// <summary>
    /// With <see cref="Scope.Begin"/> the graph's nodes and the backward pass's gradients are still reused, so what a
    /// step allocates is the handles of its forward tensors and the scope object: about 1.8 KB for LeNet-5 (7.7 KB
    /// before nodes were pooled, 31.5 KB before the allocation work) and 26 KB for resnet20, whose batch norms make
    /// about a dozen small tensors each.
    /// </summary>
    [TestCase("lenet5", 64, 28, 2, 2048)]
    [TestCase("resnet20", 4, 32, 2, 32768)]
    public void APlainScopeStepAllocatesOnlyItsForwardHandles(string name, int batch, int size, int threads, long limit)
    {
        var (bytes, fresh) = Measure(name, batch, size, threads, recycling: false);
        Assert.That(fresh, Is.Zero, "fresh buffers while measuring");
        Assert.That(bytes.Workers, Is.Zero, "bytes per training step, worker threads");
        Assert.That(bytes.ThisThread, Is.LessThan(limit), "bytes per training step, calling thread");
    }
}
