using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The strided forward packed through phase-split planes (<see cref="PhaseColumnsSource"/>): the packed panels equal
/// the column matrix's definition entry by entry (strides 2 and 3, dilation, uneven padding, groups, any block, panels
/// of 16 and 32, image and row boundaries inside a panel, several pieces of planes, columns past the block zeroed);
/// the forward has the bits of the im2col packing (<see cref="CpuBackend.PhasePlanesDisabled"/>) at 1, 2 and 3
/// threads, and agrees with the reference.
/// </summary>
[TestFixture]
public sealed class Conv2dPhasePlanesTests : ThreadCountFixture
{
    /// <summary>Strided layers on small maps: strides 2 and 3 (either axis 1 too), dilation, uneven padding, groups.</summary>
    private static readonly FsCheck.Gen<Conv2dGeometry> Strided =
        from batch in Gen.Choose(1, 4)
        from groups in Gen.Elements(1, 1, 2)
        from cg in Gen.Choose(1, 5)
        from kg in Gen.Choose(1, 20)
        from kernelH in Gen.Choose(1, 7)
        from kernelW in Gen.Choose(1, 7)
        from strideH in Gen.Elements(1, 2, 3)
        from strideW in Gen.Elements(2, 2, 3)
        from dilation in Gen.Elements(1, 1, 2)
        from padTop in Gen.Choose(0, 3)
        from padBottom in Gen.Choose(0, 3)
        from padLeft in Gen.Choose(0, 3)
        from padRight in Gen.Choose(0, 3)
        from height in Gen.Choose(dilation * (kernelH - 1) + 1, 20)
        from width in Gen.Choose(dilation * (kernelW - 1) + 1, 40)
        select new Conv2dGeometry(batch, groups * cg, height, width, groups * kg, (kernelH, kernelW), (strideH, strideW),
            new Padding2d(padTop, padLeft, padBottom, padRight), dilation, groups);

    private const string NoAvx512 = "the phase-plane packing is AVX-512 only and this CPU has none (strided layers pack with Im2ColSource)";

    [Test]
    public void PhasePacking_MatchesTheColumnMatrix()
    {
        if (!GemmKernels.Use512) Assert.Ignore(NoAvx512);
        Properties.Check(
            from g in Strided
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
                int npq = g.Batch * g.OutHeight * g.OutWidth, crs = g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
                int j0 = npq * c.jFraction / 100, width = Math.Max(1, (npq - j0) * c.widthFraction / 100);
                int k0 = crs * c.kFraction / 100, kc = Math.Max(1, (crs - k0) * c.kcFraction / 100);
                CheckPacking(g, c.groupIndex, k0, kc, j0, width, c.panel, c.seed);
            }, runs: 300);
    }

    /// <summary>
    /// More columns than one piece of planes (512), starting inside an image and crossing images: the stem's geometry
    /// on a 40 x 40 input (20 x 20 outputs) and a stride-3 5x5 with rows of 13 outputs.
    /// </summary>
    [TestCase(3, 3, 40, 40, 7, 2, 3, 0, 147, 37, 1100, 32)]
    [TestCase(4, 4, 39, 40, 5, 3, 2, 20, 60, 5, 600, 16)]
    public void PhasePacking_OverSeveralPieces_MatchesTheColumnMatrix(int n, int c, int h, int w, int kernel, int stride, int pad, int k0, int kc, int j0, int width, int panel)
    {
        if (!GemmKernels.Use512) Assert.Ignore(NoAvx512);
        Properties.Check(Properties.DataSeed, seed => CheckPacking(new Conv2dGeometry(n, c, h, w, 8, kernel, stride, pad, 1), 0, k0, kc, j0, width, panel, seed), runs: 1);
    }

    /// <summary>Rows [k0, k0 + kc), columns [j0, j0 + width) of group <paramref name="groupIndex"/>'s L packed into panels, against L's definition.</summary>
    private static unsafe void CheckPacking(Conv2dGeometry g, int groupIndex, int k0, int kc, int j0, int width, int panel, int seed)
    {
        int cg = g.InChannelsPerGroup, hw = g.InHeight * g.InWidth;
        var x = Random(g.InputShape.Size, seed);
        var packed = new float[(width + panel - 1) / panel * kc * panel];
        Array.Fill(packed, float.NaN); // every entry is written
        fixed (float* px = x, pp = packed)
            new PhaseColumnsSource(px + (nint)groupIndex * cg * hw, g).Pack(pp, k0, kc, j0, width, panel);
        ExpectColumnPanels(g, x, groupIndex, k0, kc, j0, width, panel, packed);
    }

    /// <summary>
    /// The forward through phase planes against the im2col packing, bit for bit, at 1-3 threads, uncached and cached
    /// weights; and the reference.
    /// </summary>
    private void Check(Conv2dGeometry g, bool withBias, int seed)
    {
        var x = Random(g.InputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var bias = withBias ? Random(g.OutChannels, seed + 2) : null;
        var expected = ConvForward(g, x, w, bias);
        var magnitude = ConvForward(g, x.Select(Math.Abs).ToArray(), w.Select(Math.Abs).ToArray(), bias?.Select(Math.Abs).ToArray());
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false;
        try
        {
            foreach (var backend in Backends)
            {
                DeviceBuffer xb = Upload(backend, x), wb = Upload(backend, w);
                var bb = bias is null ? null : Upload(backend, bias);
                float[] Forward()
                {
                    var y = backend.Allocate(g.OutputShape.Size);
                    backend.Fill(y, float.NaN, g.OutputShape.Size);
                    backend.Conv2d(g, xb, wb, bb, y);
                    return Download(backend, y, g.OutputShape.Size);
                }
                CpuBackend.PhasePlanesDisabled = true;
                var im2col = Forward();
                CpuBackend.PhasePlanesDisabled = false;
                for (int run = 0; run < 2; run++) // the second run reads the cached weights
                    ExpectSameBits(im2col, Forward(), $"forward {g} (bias {withBias}, {backend.Name}) run {run} against im2col");
                ExpectClose(im2col, expected, magnitude, $"forward {g} (bias {withBias}, {backend.Name})");
            }
        }
        finally
        {
            CpuBackend.PhasePlanesDisabled = false;
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    [Test]
    public void PhasePlanesForward_HasTheBitsOfIm2Col_AcrossThreadCounts() => Properties.Check(
        from g in Strided
        from channels in Gen.Choose(1, 24)
        from outChannels in Gen.Choose(1, 40)
        from batch in Gen.Choose(1, 5)
        from bias in Gen.Elements(false, true)
        from seed in Properties.DataSeed
        select (g with { Batch = batch, InChannels = g.Groups * channels, OutChannels = g.Groups * outChannels }, bias, seed),
        c => Check(c.Item1, c.bias, c.seed), runs: 25);

    /// <summary>ResNet's stem (7x7, stride 2, pad 3) and a downsampling 3x3 on small maps.</summary>
    [TestCase(3, 3, 40, 16, 7, 3)]
    [TestCase(2, 16, 28, 24, 3, 1)]
    public void ResNetStridedLayers_HaveTheBitsOfIm2Col(int n, int c, int hw, int k, int kernel, int pad) =>
        Properties.Check(Properties.DataSeed, seed => Check(new Conv2dGeometry(n, c, hw, hw, k, kernel, 2, pad, 1), true, seed), runs: 1);

    [Test]
    public unsafe void PhasePacking_RejectsPanelsThatAreNotWholeVectors()
    {
        if (!GemmKernels.Use512) Assert.Ignore(NoAvx512);
        var g = new Conv2dGeometry(1, 1, 8, 8, 1, 3, 2, 1, 1);
        var x = new float[g.InputShape.Size];
        var packed = new float[9 * 12];
        fixed (float* px = x, pp = packed)
        {
            float* xAt = px, ppAt = pp;
            var error = Assert.Throws<ArgumentException>(() => new PhaseColumnsSource(xAt, g).Pack(ppAt, 0, 9, 0, 12, 12));
            Assert.That(error!.Message, Does.Contain("multiple of 16").And.Contain("got 12"));
        }
    }
}
