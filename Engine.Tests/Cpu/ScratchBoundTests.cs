using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>
/// The issue's bound on convolution scratch: while one convolution (forward, data gradient or weight gradient) runs on
/// the CPU backend, each thread holds at most 8 MB of scratch: the [ThreadStatic] AlignedScratch slots it uses in that
/// call (at their held size, which earlier calls may have grown) including the nested GEMM's packing buffers, plus the
/// pooled arrays the call rents on it, at their peak (<c>ScratchMeter</c>). Measured at 1 and 2 threads over ResNet-18,
/// VGG-like and LeNet layers (large batches included), strided, grouped, depthwise, dilated and 1x1 layers, and random
/// geometries; each forward and data gradient runs twice (the second reads the weights packed by the first). The packed
/// weight copies kept on a weight buffer are not per-thread scratch and are not counted.
/// </summary>
[TestFixture]
public sealed class ScratchBoundTests : ThreadCountFixture
{
    private const long BoundBytes = 8L << 20;

    /// <summary>Named layers (N, C, H, W -&gt; K, kernel, stride, padding[, dilation, groups]).</summary>
    private static readonly (string Name, Conv2dGeometry Geometry)[] Layers =
    [
        ("r18 stem b32", new(32, 3, 224, 224, 64, 7, 2, 3, 1)),
        ("r18 l1 b8", new(8, 64, 56, 56, 64, 3, 1, 1, 1)),
        ("r18 l2 b16", new(16, 128, 28, 28, 128, 3, 1, 1, 1)),
        ("r18 l2 down b32", new(32, 64, 56, 56, 128, 3, 2, 1, 1)),
        ("r18 l3 b64", new(64, 256, 14, 14, 256, 3, 1, 1, 1)),
        ("r18 l3 down 1x1 b32", new(32, 128, 28, 28, 256, 1, 2, 0, 1)),
        ("r18 l4 b8", new(8, 512, 7, 7, 512, 3, 1, 1, 1)),
        ("r18 l4 b64", new(64, 512, 7, 7, 512, 3, 1, 1, 1)),
        ("r18 l4 down b32", new(32, 256, 14, 14, 512, 3, 2, 1, 1)),
        ("r18 l4 b32 at 32px", new(32, 512, 1, 1, 512, 3, 1, 1, 1)),
        ("r50 1x1 b8", new(8, 256, 56, 56, 64, 1, 1, 0, 1)),
        ("vgg 256 28px b8", new(8, 256, 28, 28, 256, 3, 1, 1, 1)),
        ("vgg 512 14px b8", new(8, 512, 14, 14, 512, 3, 1, 1, 1)),
        ("grouped 4 b16", new(16, 128, 28, 28, 128, 3, 1, 1, 1, 4)),
        ("depthwise b16", new(16, 256, 14, 14, 256, 3, 1, 1, 1, 256)),
        ("dilated b8", new(8, 128, 28, 28, 128, 3, 1, 2, 2)),
        ("wide K b16", new(16, 64, 14, 14, 1024, 3, 1, 1, 1)),
        ("7x7 kernel b8", new(8, 16, 56, 56, 64, 7, 1, 3, 1)),
        ("5x5 kernel wide K b8", new(8, 32, 14, 14, 768, 5, 1, 2, 1)),
        ("direct deep b8", new(8, 1024, 7, 7, 16, 3, 1, 1, 1)),
        ("lenet c1 b64", new(64, 1, 28, 28, 6, 5, 1, 2, 1)),
        ("lenet c2 b64", new(64, 6, 14, 14, 16, 5, 1, 0, 1)),
        ("direct deep 5x5 b2", new(2, 8192, 5, 5, 16, 5, 1, 0, 1)),
    ];

    /// <summary>Random layers: channels, maps, kernels, strides, padding, dilation and groups, at most ~60 M multiply-adds.</summary>
    private static readonly FsCheck.Gen<Conv2dGeometry> Random =
        from batch in Gen.Elements(1, 3, 8, 24)
        from groups in Gen.Elements(1, 1, 1, 2, 4)
        from cg in Gen.Elements(3, 8, 16, 40, 64, 96)
        from kg in Gen.Elements(8, 24, 64, 100, 160)
        from kernel in Gen.Elements(1, 3, 3, 5)
        from stride in Gen.Elements(1, 1, 2)
        from dilation in Gen.Elements(1, 1, 2)
        from pad in Gen.Choose(0, kernel / 2 * dilation)
        from size in Gen.Choose(dilation * (kernel - 1) + 1, 40)
        select Bounded(new Conv2dGeometry(batch, groups * cg, size, size, groups * kg, kernel, stride, pad, dilation, groups));

    private static string Name(Conv2dGeometry g) =>
        $"({g.Batch},{g.InChannels},{g.InHeight},{g.InWidth} -> {g.OutChannels}, {g.Kernel.Height}x{g.Kernel.Width}, stride {g.Stride.Height}, pad {g.Padding.Top}, dilation {g.Dilation.Height}, groups {g.Groups})";

    private static Conv2dGeometry Bounded(Conv2dGeometry g) =>
        g.Macs <= 60_000_000 ? g : g with { Batch = (int)Math.Max(1, g.Batch * 60_000_000 / g.Macs) };

    private readonly record struct Measure(string Case, int Threads, string Op, string Thread, long Bytes)
    {
        public override string ToString() => $"{Case} at {Threads} thread(s), {Op}, {Thread}: {Bytes / 1048576.0:F2} MB";
    }

    /// <summary>Each thread's scratch peak in each of the five calls (two forwards, two data gradients, one weight gradient).</summary>
    private static List<Measure> Run(CpuBackend backend, string name, Conv2dGeometry g)
    {
        var measures = new List<Measure>();
        var x = Filled(backend, g.InputShape.Size, 0.5f);
        var w = Filled(backend, g.WeightShape.Size, 0.25f);
        var bias = Filled(backend, g.OutChannels, 0.125f);
        var dY = Filled(backend, g.OutputShape.Size, 0.75f);
        var y = backend.Allocate(g.OutputShape.Size);
        var dX = backend.Allocate(g.InputShape.Size);
        var dW = backend.Allocate(g.WeightShape.Size);
        var dBias = backend.Allocate(g.OutChannels);
        void Call(string op, Action body)
        {
            ScratchMeter.BeginOp();
            body();
            foreach (var (thread, bytes) in ScratchMeter.Peaks()) measures.Add(new Measure(name, backend.Threads, op, thread, bytes));
        }
        try
        {
            ScratchMeter.Enabled = true;
            for (int pass = 1; pass <= 2; pass++)
            {
                Call($"forward {pass}", () => backend.Conv2d(g, x, w, bias, y));
                Call($"data gradient {pass}", () => backend.Conv2dBackwardData(g, dY, w, dX));
            }
            Call("weight gradient", () => backend.Conv2dBackwardWeight(g, x, dY, dW, dBias));
        }
        finally
        {
            ScratchMeter.Enabled = false;
            foreach (var buffer in new[] { x, w, bias, dY, y, dX, dW, dBias }) backend.Release(buffer);
        }
        return measures;
    }

    private static DeviceBuffer Filled(CpuBackend backend, int count, float value)
    {
        var buffer = backend.Allocate(count);
        backend.Fill(buffer, value, count);
        return buffer;
    }

    /// <summary>Every measure at most 8 MB; the worst of each pass written to the test output either way.</summary>
    private static void Expect(List<Measure> measures, string what)
    {
        Assert.That(measures, Is.Not.Empty, $"{what}: expected scratch measures, got none (is the meter on?)");
        foreach (var pass in measures.GroupBy(m => m.Op.TrimEnd(' ', '1', '2')))
            TestContext.Out.WriteLine($"{what}, worst {pass.Key}: {pass.MaxBy(m => m.Bytes)}");
        var over = measures.Where(m => m.Bytes > BoundBytes).OrderByDescending(m => m.Bytes).ToList();
        Assert.That(over, Is.Empty,
            $"{what}: expected every thread's scratch at most {BoundBytes / 1048576} MB per call, got {over.Count} over:\n{string.Join("\n", over)}");
    }

    [Test]
    public void NamedLayers_KeepEachThreadsScratchWithin8MB()
    {
        var measures = new List<Measure>();
        foreach (var backend in Backends[..2])
            foreach (var (name, g) in Layers) measures.AddRange(Run(backend, name, g));
        Expect(measures, "named layers");
    }

    [Test]
    public void RandomLayers_KeepEachThreadsScratchWithin8MB()
    {
        var measures = new List<Measure>();
        Properties.Check(Random, g =>
        {
            foreach (var backend in Backends[..2]) measures.AddRange(Run(backend, Name(g), g));
        }, runs: 25);
        Expect(measures, "random layers");
    }
}
