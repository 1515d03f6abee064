using Engine.Cpu;
using Engine.Inference;
using Engine.Models;
using NUnit.Framework;

namespace Engine.Tests.Inference;

/// <summary>
/// Steady-state predictor calls allocate nothing on the GC heap but the returned array: counted on the calling
/// thread and over every thread (the worker pool's threads included), with one and two CPU threads, for models that
/// cover convolution, batch norm in eval, dropout, adaptive pooling, residual additions and concatenation.
/// </summary>
[TestFixture]
public sealed class PredictorAllocationTests
{
    private const int WarmUpCalls = 3, MeasuredCalls = 10;

    /// <summary>Bytes per call on the calling thread and over all threads, after warm-up calls.</summary>
    public static (long ThisThread, long AllThreads) PerCall(Action call)
    {
        for (int i = 0; i < WarmUpCalls; i++) call();
        long thread = GC.GetAllocatedBytesForCurrentThread();
        long total = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < MeasuredCalls; i++) call();
        long totalAfter = GC.GetTotalAllocatedBytes(precise: true);
        long threadAfter = GC.GetAllocatedBytesForCurrentThread();
        return ((threadAfter - thread) / MeasuredCalls, (totalAfter - total) / MeasuredCalls);
    }

    [TestCase("lenet5", 1, 28, 1)]
    [TestCase("lenet5", 1, 28, 2)]
    [TestCase("lenet5", 32, 28, 2)]
    [TestCase("vgg_small", 2, 28, 1)]
    [TestCase("vgg_small", 2, 28, 2)]
    [TestCase("resnet20", 2, 32, 1)]
    [TestCase("resnet20", 2, 32, 2)]
    [TestCase("unet_small", 1, 64, 1)]
    [TestCase("unet_small", 1, 64, 2)]
    public void ASteadyStateCallAllocatesNothingButTheOutput(string name, int batch, int size, int threads)
    {
        using var backend = new CpuBackend(threads);
        var entry = ModelZoo.Find(name);
        var predictor = new Predictor(ModelZoo.Create(name, generator: new Generator(1)), backend, new Shape(batch, entry.DefaultChannels, size, size));
        var input = new Generator(5).Uniform(predictor.InputShape.Size, 0f, 1f);
        var output = new float[predictor.OutputShape.Size];
        var intoSpan = PerCall(() => predictor.Predict(input, output));
        var withArray = PerCall(() => predictor.Predict(input));
        long arrayBytes = ArrayBytes(predictor.OutputShape.Size);
        TestContext.Out.WriteLine($"{name} batch {batch}, {threads} threads: into a span {intoSpan.ThisThread} bytes per call (this thread), {intoSpan.AllThreads} (all threads); returning the array {withArray.ThisThread} / {withArray.AllThreads} (the array is {arrayBytes})");
        Assert.That(intoSpan.ThisThread, Is.Zero, "bytes per call into a span, calling thread");
        Assert.That(intoSpan.AllThreads, Is.Zero, "bytes per call into a span, all threads");
        Assert.That(withArray.ThisThread, Is.EqualTo(arrayBytes), "bytes per call returning the array, calling thread");
        Assert.That(withArray.AllThreads, Is.EqualTo(arrayBytes), "bytes per call returning the array, all threads");
    }

    /// <summary>Heap size of a float[] of <paramref name="length"/>, measured (object header and length included).</summary>
    private static long ArrayBytes(int length)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(new float[length]);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
