using System.Reflection;
using BenchmarkDotNet.Attributes;
using Engine.Bench.Gpu;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

/// <summary>
/// The GPU benchmarks of Engine.Bench run here on the PTX emulator at tiny sizes: every [Benchmark] method executes
/// (found by reflection, so a new one is covered too) and declares its work, so the first run on a GPU does not meet
/// dead code.
/// </summary>
[TestFixture]
[NonParallelizable]
public class GpuBenchDryRunTests
{
    private static void RunEveryBenchmark(GpuBench bench, Action<string> afterEach)
    {
        bench.Backend = "cuda-emulated";
        var type = bench.GetType();
        type.GetMethods().Single(m => m.IsDefined(typeof(GlobalSetupAttribute))).Invoke(bench, null);
        try
        {
            var methods = type.GetMethods().Where(m => m.IsDefined(typeof(BenchmarkAttribute))).ToList();
            Assert.That(methods, Is.Not.Empty, $"{type.Name} has benchmarks");
            Assert.That(methods.Count(m => m.GetCustomAttribute<BenchmarkAttribute>()!.Baseline), Is.LessThanOrEqualTo(1), $"{type.Name}: at most one baseline");
            foreach (var method in methods)
            {
                method.Invoke(bench, null);
                Assert.That(bench.WorkOf(method.Name), Is.GreaterThan(0), $"{type.Name}.{method.Name} declares its work");
                afterEach(method.Name);
            }
        }
        finally { bench.Dispose(); }
    }

    [Test]
    public void ElementwiseBenchRunsOnTheEmulator()
    {
        var bench = new ElementwiseBench { Length = 4 * 256 };
        var ran = new List<string>();
        RunEveryBenchmark(bench, ran.Add);
        Assert.That(ran, Does.Contain(nameof(ElementwiseBench.MemcpyDtoD)));
        Assert.That(bench.WorkOf(nameof(ElementwiseBench.Add)), Is.EqualTo(1.5 * bench.WorkOf(nameof(ElementwiseBench.MemcpyDtoD))), "a + b -> y moves 3 words per element, a copy 2");
    }

    [Test]
    public void Conv2dGpuBenchRunsOnTheEmulatorForEveryCaseShape()
    {
        var bench = new Conv2dGpuBench { Case = "conv_lenet_c2", Batch = 1 };
        RunEveryBenchmark(bench, method =>
            Assert.That(bench.WorkOf(method), Is.EqualTo(bench.WorkOf(nameof(Conv2dGpuBench.EquivalentGemm))), $"{method} does the GEMM's FLOPs"));
        Assert.Throws<ArgumentException>(() => new Conv2dGpuBench { Case = "nope" }.WorkOf("Forward"));
    }

    [TestCase("lenet5", 0)]
    [TestCase("resnet18", 16)]
    public void TrainingGpuBenchRunsOnTheEmulator(string model, int imageSize)
    {
        var bench = new TrainingGpuBench { Model = model, Batch = 2, ImageSize = imageSize };
        RunEveryBenchmark(bench, _ => { });
        Assert.That(bench.WorkOf(nameof(TrainingGpuBench.TrainStep)), Is.EqualTo(2), "images per step");
    }

    [Test]
    public void RatesAndSharesFollowFromWorkAndTime()
    {
        Assert.That(GpuBench.Rate(2e9, "B", 1e9), Is.EqualTo((2.0, "GB/s")));
        Assert.That(GpuBench.Rate(64, "image", 1e9), Is.EqualTo((64.0, "images/s")));
        // a kernel moving 3/2 the bytes of the copy in twice its time reaches 75% of its bandwidth
        Assert.That(GpuBench.Share(3, 2, 2, 1), Is.EqualTo(0.75));
    }

    [Test]
    public void WithoutADeviceTheGpuBenchmarksSayWhy()
    {
        string? reason = GpuBench.UnavailableReason();
        if (reason is null) Assert.Ignore("a CUDA device is present: the GPU benchmarks run");
        Assert.That(reason, Does.Contain("no CUDA driver found").Or.Contain("no CUDA device"));
    }
}
