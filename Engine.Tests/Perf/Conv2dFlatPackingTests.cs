using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The flat-window im2col packing (stride 1 with Q == W, every 3x3 pad-1 layer of ResNet): a panel row is read as
/// masked 16-float windows of the flattened plane. The packed panels equal the column matrix's definition entry by
/// entry (any block, any panel width, images boundaries inside a panel, columns past the block zeroed), and forward
/// and data gradient on small maps (fewer pixels per image than a panel) agree with the reference with the same bits
/// at 1, 2 and 3 threads, with uncached and cached weights (the column split for a few panels), on the 512-bit and the
/// forced 256-bit kernels.
/// </summary>
[TestFixture]
public sealed class Conv2dFlatPackingTests : ThreadCountFixture
{

    /// <summary>Stride 1 with left + right padding = the kernel's width extent (so Q == W), small maps, groups, dilation.</summary>
    private static readonly FsCheck.Gen<Conv2dGeometry> FlatGeometries =
        from batch in Gen.Choose(1, 4)
        from groups in Gen.Elements(1, 1, 2)
        from cg in Gen.Choose(1, 6)
        from kg in Gen.Choose(1, 13)
        from kernelH in Gen.Choose(1, 5)
        from kernelW in Gen.Choose(1, 5)
        from dilation in Gen.Elements(1, 1, 2)
        from padTop in Gen.Choose(0, dilation * (kernelH - 1))
        from padBottom in Gen.Choose(0, dilation * (kernelH - 1))
        from padLeft in Gen.Choose(0, dilation * (kernelW - 1))
        from height in Gen.Choose(dilation * (kernelH - 1) + 1, 12)
        from width in Gen.Choose(dilation * (kernelW - 1) + 1, 20)
        select new Conv2dGeometry(batch, groups * cg, height, width, groups * kg, (kernelH, kernelW), 1,
            new Padding2d(padTop, padLeft, padBottom, dilation * (kernelW - 1) - padLeft), dilation, groups);

    [Test]
    public unsafe void FlatPacking_MatchesTheColumnMatrix() => Properties.Check(
        from g in FlatGeometries
        from panel in Gen.Elements(16, 32)
        from groupIndex in Gen.Choose(0, g.Groups - 1)
        from jFraction in Gen.Choose(0, 99)
        from widthFraction in Gen.Choose(1, 100)
        from kFraction in Gen.Choose(0, 99)
        from kcFraction in Gen.Choose(1, 100)
        from seed in Properties.DataSeed
        select (g, panel, groupIndex, jFraction, widthFraction, kFraction, kcFraction, seed),
        c =>
        {
            var g = c.g;
            Expect.That(g.OutWidth == g.InWidth, $"expected a geometry with Q == W, got {g} (Q {g.OutWidth})");
            int pq = g.OutHeight * g.OutWidth, npq = g.Batch * pq, cg = g.InChannelsPerGroup;
            int crs = cg * g.Kernel.Height * g.Kernel.Width, hw = g.InHeight * g.InWidth;
            int j0 = npq * c.jFraction / 100, width = Math.Max(1, (npq - j0) * c.widthFraction / 100);
            int k0 = crs * c.kFraction / 100, kc = Math.Max(1, (crs - k0) * c.kcFraction / 100);
            int panels = (width + c.panel - 1) / c.panel;
            var x = Random(g.InputShape.Size, c.seed);
            var packed = new float[panels * kc * c.panel];
            Array.Fill(packed, float.NaN); // every entry is written
            fixed (float* px = x, pp = packed)
                new Im2ColSource(px + (nint)c.groupIndex * cg * hw, g).Pack(pp, k0, kc, j0, width, c.panel);
            ExpectColumnPanels(g, x, c.groupIndex, k0, kc, j0, width, c.panel, packed);
        }, runs: 200);

    /// <summary>Forward (bias or not) and data gradient against the reference; the same bits at 1, 2 and 3 threads.</summary>
    private void Check(Conv2dGeometry g, bool withBias, int seed)
    {
        var x = Random(g.InputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var bias = withBias ? Random(g.OutChannels, seed + 2) : null;
        var dY = Random(g.OutputShape.Size, seed + 3);
        var expected = ConvForward(g, x, w, bias);
        var magnitude = ConvForward(g, x.Select(Math.Abs).ToArray(), w.Select(Math.Abs).ToArray(), bias?.Select(Math.Abs).ToArray());
        var expectedDx = ConvBackwardData(g, dY, w);
        var magnitudeDx = ConvBackwardData(g, dY.Select(Math.Abs).ToArray(), w.Select(Math.Abs).ToArray());
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false; // F(2x2, 3x3) would take the 3x3 cases: these check the GEMM paths
        try
        {
            float[]? firstY = null, firstDx = null;
            foreach (var backend in Backends)
            {
                var y = backend.Allocate(g.OutputShape.Size);
                backend.Fill(y, float.NaN, g.OutputShape.Size);
                DeviceBuffer xb = Upload(backend, x), wb = Upload(backend, w);
                var bb = bias is null ? null : Upload(backend, bias);
                backend.Conv2d(g, xb, wb, bb, y);
                var gotY = Download(backend, y, g.OutputShape.Size);
                // later forwards read the cached weights (and may take the column split for a few panels): same bits
                for (int run = 1; run < 3; run++)
                {
                    backend.Fill(y, float.NaN, g.OutputShape.Size);
                    backend.Conv2d(g, xb, wb, bb, y);
                    ExpectSameBits(gotY, Download(backend, y, g.OutputShape.Size), $"forward {g} (bias {withBias}, {backend.Name}), run {run} with cached weights");
                }
                var dX = backend.Allocate(g.InputShape.Size);
                backend.Fill(dX, float.NaN, g.InputShape.Size);
                backend.Conv2dBackwardData(g, Upload(backend, dY), Upload(backend, w), dX);
                var gotDx = Download(backend, dX, g.InputShape.Size);
                ExpectClose(gotY, expected, magnitude, $"forward {g} (bias {withBias}, {backend.Name})");
                ExpectClose(gotDx, expectedDx, magnitudeDx, $"data gradient {g} ({backend.Name})");
                firstY ??= gotY;
                firstDx ??= gotDx;
                ExpectSameBits(firstY, gotY, $"forward {g} (bias {withBias}, {backend.Name}) against the one-thread run");
                ExpectSameBits(firstDx, gotDx, $"data gradient {g} ({backend.Name}) against the one-thread run");
            }
        }
        finally
        {
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    /// <summary>
    /// Small maps at enough channels and pixels for the GEMM paths (the kinds of ResNet's layers 3 and 4), at most
    /// 1 M multiply-adds so the reference stays quick.
    /// </summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry Geometry, bool Bias, int Seed)> SmallMaps =
        from g in FlatGeometries
        from channels in Gen.Choose(16, 40)
        from outChannels in Gen.Choose(1, 40)
        from batch in Gen.Choose(1, 9)
        from bias in Gen.Elements(false, true)
        from seed in Properties.DataSeed
        select (Bounded(g with { Batch = batch, InChannels = g.Groups * channels, OutChannels = g.Groups * outChannels }), bias, seed);

    /// <summary>g with its output channels cut (to at least one per group) until it has at most 1 M multiply-adds.</summary>
    private static Conv2dGeometry Bounded(Conv2dGeometry g)
    {
        long perChannel = g.Macs / g.OutChannelsPerGroup;
        int kg = (int)Math.Clamp(1_000_000 / perChannel, 1, g.OutChannelsPerGroup);
        return g with { OutChannels = g.Groups * kg };
    }

    [Test]
    public void FlatPackedConvolution_AgreesWithReference_AcrossThreadCounts() =>
        Properties.Check(SmallMaps, c => Check(c.Geometry, c.Bias, c.Seed), runs: 20);

    [Test]
    public void FlatPackedConvolution_AgreesWithReference_AcrossThreadCounts_Vector256Forced()
    {
        GemmKernels.ForceVector256 = true;
        try
        {
            Properties.Check(SmallMaps, c => Check(c.Geometry, c.Bias, c.Seed), runs: 10);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    /// <summary>
    /// ResNet-18's layer-4 and layer-3 shapes (7 x 7 and 14 x 14, 3x3 pad 1) at fewer channels, batch 1 and 3; and
    /// more than 256 output channels on one 7 x 7 image (the column split past its usual row limit, weights cached);
    /// 200 input channels (the data gradient's flipped weights packed in blocks that start past column 0).
    /// </summary>
    [TestCase(1, 64, 7, 40)]
    [TestCase(1, 16, 7, 300)]
    [TestCase(3, 200, 7, 24)]
    [TestCase(3, 48, 7, 52)]
    [TestCase(1, 32, 14, 36)]
    [TestCase(3, 24, 14, 20)]
    public void ResNetSmallMaps_AgreeWithReference_AcrossThreadCounts(int n, int c, int hw, int k) =>
        Properties.Check(Properties.DataSeed, seed => Check(new Conv2dGeometry(n, c, hw, hw, k, 3, 1, 1, 1), true, seed), runs: 1);

    /// <summary>
    /// A batch whose staged output exceeds the stage's bound is computed a group of whole images at a time (here two
    /// or three per stage, the last group shorter): the same bits as one stage, and the reference at 1-3 threads.
    /// </summary>
    [TestCase(5, 24, 7, 40, 2)]
    [TestCase(7, 16, 14, 20, 3)]
    public void StagedOutputOverSeveralStages_KeepsTheBitsOfOneStage(int n, int c, int hw, int k, int imagesPerStage)
    {
        var g = new Conv2dGeometry(n, c, hw, hw, k, 3, 1, 1, 1);
        var x = Random(g.InputShape.Size, 11);
        var w = Random(g.WeightShape.Size, 12);
        var bias = Random(g.OutChannels, 13);
        var dY = Random(g.OutputShape.Size, 14);
        var backend = Backends[1];
        (float[] Y, float[] Dx) Run()
        {
            var y = backend.Allocate(g.OutputShape.Size);
            backend.Conv2d(g, Upload(backend, x), Upload(backend, w), Upload(backend, bias), y);
            var dX = backend.Allocate(g.InputShape.Size);
            backend.Conv2dBackwardData(g, Upload(backend, dY), Upload(backend, w), dX);
            return (Download(backend, y, g.OutputShape.Size), Download(backend, dX, g.InputShape.Size));
        }
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false; // F(2x2, 3x3) would take the 3x3 cases: these check the GEMM paths
        try
        {
            var oneStage = Run();
            CpuBackend.StageMaxFloats = (long)imagesPerStage * hw * hw * Math.Max(c, k);
            var severalStages = Run();
            ExpectSameBits(oneStage.Y, severalStages.Y, $"forward {g}, {imagesPerStage} images per stage against one stage");
            ExpectSameBits(oneStage.Dx, severalStages.Dx, $"data gradient {g}, {imagesPerStage} images per stage against one stage");
            Check(g, true, 15);
        }
        finally
        {
            CpuBackend.StageMaxFloats = CpuBackend.DefaultStageMaxFloats;
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }


}
