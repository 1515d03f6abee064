using Engine.Cpu;
using Engine.Optim;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The data gradient's cache of flipped, packed weights (<c>PackedWeights.Flipped</c>, stride-1 data gradients run as a
/// forward convolution): from the third data gradient of unchanged weights on, dX is computed from the kept copy and
/// has the bits of the first (packed per call), agrees with the double-precision reference, and has the same bits at
/// 1, 2 and 3 threads, on the 512-bit and forced 256-bit kernels; a write to the weights, whichever way, is seen by the
/// next data gradient.
/// </summary>
[TestFixture]
public sealed class FlippedWeightsTests : ThreadCountFixture
{
    private readonly CpuBackend _fresh = new(1);

    [OneTimeTearDown]
    public void DisposeFresh() => _fresh.Dispose();

    /// <summary>
    /// Stride-1 geometries the data gradient runs as a forward convolution (padding at most the kernel's extent, at least
    /// 128 input pixels): input channels per group around the 12- and 6-row panels, Kg*R*S past one 384-deep K block,
    /// dilation and groups; at most 1 M multiply-adds.
    /// </summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry Geometry, int Seed)> Cases =
        from batch in Gen.Choose(1, 3)
        from groups in Gen.Elements(1, 1, 2)
        from cg in Gen.Elements(1, 5, 12, 13, 19, 30)
        from kg in Gen.Elements(1, 7, 16, 45, 50)
        from kernel in Gen.Elements(2, 3, 3, 5)
        from kernelW in Gen.Elements(kernel, kernel, 1, 3)
        from dilation in Gen.Elements(1, 1, 2)
        from padTop in Gen.Choose(0, dilation * (kernel - 1))
        from padLeft in Gen.Choose(0, dilation * (kernelW - 1))
        from padBottom in Gen.Choose(0, dilation * (kernel - 1))
        from padRight in Gen.Choose(0, dilation * (kernelW - 1))
        from height in Gen.Choose(dilation * (kernel - 1) + 8, 20)
        from width in Gen.Choose(dilation * (kernelW - 1) + 16, 30)
        from seed in Properties.DataSeed
        select (Bounded(new Conv2dGeometry(batch, groups * cg, height, width, groups * kg, (kernel, kernelW), 1,
            new Padding2d(padTop, padLeft, padBottom, padRight), dilation, groups)), seed);

    /// <summary>The geometry with its output channels cut until it has at most 1 M multiply-adds.</summary>
    private static Conv2dGeometry Bounded(Conv2dGeometry g)
    {
        long perChannel = g.Macs / g.OutChannels * g.Groups;
        int kg = (int)Math.Clamp(1_000_000 / Math.Max(perChannel, 1), 1, g.OutChannelsPerGroup);
        return g with { OutChannels = g.Groups * kg };
    }

    private static float[] DataGradient(CpuBackend backend, Conv2dGeometry g, DeviceBuffer dY, DeviceBuffer w)
    {
        var dX = backend.Allocate(g.InputShape.Size);
        backend.Fill(dX, float.NaN, g.InputShape.Size); // overwritten, never accumulated
        backend.Conv2dBackwardData(g, dY, w, dX);
        return Download(backend, dX, g.InputShape.Size);
    }

    /// <summary>dX from weights no data gradient has seen (so nothing is cached), on a one-thread backend.</summary>
    private float[] Uncached(Conv2dGeometry g, float[] dY, float[] w) => DataGradient(_fresh, g, Upload(_fresh, dY), Upload(_fresh, w));

    /// <summary>Runs body with the direct kernels and F(2x2, 3x3) off, so stride-1 data gradients take the GEMM (and its cache).</summary>
    private static void WithoutDirect(Action body)
    {
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false;
        try
        {
            body();
        }
        finally
        {
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    private void Check((Conv2dGeometry Geometry, int Seed) c) => WithoutDirect(() =>
    {
        var g = c.Geometry;
        var dY = Random(g.OutputShape.Size, c.Seed);
        var w = Random(g.WeightShape.Size, c.Seed + 1);
        var expected = ConvBackwardData(g, dY, w);
        var magnitude = ConvBackwardData(g, dY.Select(Math.Abs).ToArray(), w.Select(Math.Abs).ToArray());
        var uncached = Uncached(g, dY, w);
        foreach (var backend in Backends)
        {
            var dYb = Upload(backend, dY);
            var wb = Upload(backend, w);
            for (int run = 0; run < 3; run++)
            {
                var got = DataGradient(backend, g, dYb, wb);
                ExpectClose(got, expected, magnitude, $"data gradient {run} of {g} ({backend.Name})");
                ExpectSameBits(uncached, got, $"data gradient {run} of {g} on {backend.Name} against an uncached one on one thread");
            }
            Assert.That(((CpuBuffer)wb).Flipped?.IsPacked, Is.True, $"the third data gradient of {g} on {backend.Name} reads a packed copy");
        }
    });

    [Test]
    public void RepeatedDataGradients_ReadTheFlippedCopy_WithTheSameBits() => Properties.Check(Cases, Check, runs: 20);

    [Test]
    public void RepeatedDataGradients_ReadTheFlippedCopy_WithTheSameBits_Vector256Forced()
    {
        GemmKernels.ForceVector256 = true;
        try
        {
            Properties.Check(Cases, Check, runs: 8);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    /// <summary>ResNet-18's layer-3 convolution at batch 1 (256 channels, 14 x 14: 6 K blocks, 22 panels of 12 rows).</summary>
    [Test]
    public void ResNetLayer3_ReadsTheFlippedCopy_WithTheSameBits() => Check((new Conv2dGeometry(1, 256, 14, 14, 256, 3, 1, 1, 1), 11));

    [Test]
    public void EveryWriteToTheWeights_IsSeenByTheNextDataGradient() => WithoutDirect(() =>
    {
        var g = new Conv2dGeometry(2, 13, 9, 11, 26, 3, 1, 1, 1);
        var backend = Backends[1];
        var dY = Random(g.OutputShape.Size, 3);
        var w = Random(g.WeightShape.Size, 4);
        var dYb = Upload(backend, dY);
        var wb = Upload(backend, w);
        var otherBuffer = Upload(backend, Random(g.WeightShape.Size, 5));
        var grad = Upload(backend, Random(g.WeightShape.Size, 6));
        var writes = new (string Name, Action Write)[]
        {
            ("upload", () => backend.Upload(Random(g.WeightShape.Size, 7), wb)),
            ("copy", () => backend.Copy(otherBuffer, 0, wb, 0, g.WeightShape.Size)),
            ("fill", () => backend.Fill(wb, 0.25f, g.WeightShape.Size / 2)),
            ("span", () => ((CpuBuffer)wb).Span[g.WeightShape.Size - 1] = 3f),
            ("sgd step", () => backend.SgdStep(new SgdSettings(0.1f, 0f, 0f, 0f, false, true), wb, grad, null, g.WeightShape.Size)),
        };
        foreach (var (name, write) in writes)
        {
            for (int run = 0; run < 3; run++) DataGradient(backend, g, dYb, wb); // the third reads the packed copy
            Assert.That(((CpuBuffer)wb).Flipped?.IsPacked, Is.True, $"before {name}: the flipped weights are cached");
            write();
            var now = Download(backend, wb, g.WeightShape.Size);
            ExpectSameBits(Uncached(g, dY, now), DataGradient(backend, g, dYb, wb), $"data gradient after {name} of {g}");
        }
    });
}
