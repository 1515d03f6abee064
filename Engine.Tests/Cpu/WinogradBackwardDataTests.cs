using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The backward data of kernels 5 tall by F(4, 5) down the columns (Conv2dWinogradBackwardData.cs): against the double
/// reference within the convolution tolerance, the same bits on 1 and 2 threads, over heights with every remainder mod
/// 4 (the F(2, 5) tile and the F(4, 5) tile with a row past the plane), widths over several 16-column vectors, kernel
/// widths 1-7, padding, groups; and the fallback to the direct tiles for a NaN or an infinity.
/// </summary>
[TestFixture]
public sealed class WinogradBackwardDataTests
{
    private readonly CpuBackend _one = new(1);
    private readonly CpuBackend _two = new(2);

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _one.Dispose();
        _two.Dispose();
    }

    internal static float[] BackwardData(CpuBackend be, Conv2dGeometry g, float[] dY, float[] w)
    {
        var dX = be.Allocate(g.InputShape.Size);
        be.Fill(dX, float.NaN, g.InputShape.Size); // overwritten, never accumulated
        be.Conv2dBackwardData(g, Upload(be, dY), Upload(be, w), dX);
        return Download(be, dX, g.InputShape.Size);
    }

    /// <summary>dX by the direct tiles (what an image or a call with a NaN or an infinity falls back to).</summary>
    internal static float[] BackwardDataByTiles(CpuBackend be, Conv2dGeometry g, float[] dY, float[] w)
    {
        CpuBackend.WinogradEnabled = false;
        try
        {
            return BackwardData(be, g, dY, w);
        }
        finally
        {
            CpuBackend.WinogradEnabled = true;
        }
    }

    private static void RequireAvx512()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.Ignore("the Winograd backward data needs AVX-512F, which this CPU lacks");
    }

    private static Gen<Conv2dGeometry> Geometries =>
        from n in Gen.Choose(1, 3) from groups in Gen.Choose(1, 2) from cg in Gen.Elements(6, 12) from kg in Gen.Choose(1, 16)
        from s in Gen.Choose(1, 7) from h in Gen.Choose(1, 21) from w in Gen.Choose(1, 40)
        from top in Gen.Choose(0, 4) from bottom in Gen.Choose(0, 4) from left in Gen.Choose(0, s - 1) from right in Gen.Choose(0, s - 1)
        let g = new Conv2dGeometry(n, groups * cg, h, w, groups * kg, (5, s), 1, new Padding2d(top, left, bottom, right), 1, groups)
        where IsValid(g) && CpuBackend.TakesWinogradData(g)
        select g;

    private void Check(Conv2dGeometry g, int seed)
    {
        var dY = Random(g.OutputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var dX = BackwardData(_two, g, dY, w);
        ExpectSameBits(dX, BackwardData(_one, g, dY, w), $"{g}: Winograd backward data on 1 thread against 2");
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        ExpectClose(dX, ConvBackwardData(g, dY, w), ConvBackwardData(g, Abs(dY), Abs(w)), $"Winograd backward data {g}");
    }

    [Test]
    public void WinogradBackwardDataAgreesWithTheReferenceOnOneAndTwoThreads()
    {
        RequireAvx512();
        Properties.Check(from g in Geometries from seed in Properties.DataSeed select (g, seed), k => Check(k.g, k.seed), runs: 80);
    }

    /// <summary>LeNet's second layer (14 rows: three F(4, 5) tiles and an F(2, 5) one), a 15-row plane (a tile past it) and 'same' padding at 28 x 28.</summary>
    [TestCase(64, 6, 14, 14, 16, 0)]
    [TestCase(2, 6, 15, 20, 8, 1)]
    [TestCase(2, 12, 28, 28, 16, 2)]
    public void WinogradBackwardDataOfLeNetSizes(int n, int c, int h, int w, int k, int pad)
    {
        RequireAvx512();
        var g = new Conv2dGeometry(n, c, h, w, k, 5, 1, pad, 1);
        Assert.That(CpuBackend.TakesWinogradData(g), Is.True, $"{g}: expected the Winograd backward data");
        Check(g, n + c + h + k);
        var dY = Random(g.OutputShape.Size, 3);
        var weights = Random(g.WeightShape.Size, 4);
        Assert.That(Bits(BackwardData(_two, g, dY, weights)), Is.Not.EqualTo(Bits(BackwardDataByTiles(_two, g, dY, weights))),
            $"{g}: the Winograd and the tiles gave the same bits (expected different rounding: did the Winograd run?)");
    }

    /// <summary>The rule: kernels 5 tall at stride and dilation 1 with whole 6-channel tiles; the other shapes keep the tiles.</summary>
    [Test]
    public void WinogradTakesKernelsFiveTallOnly()
    {
        RequireAvx512();
        Assert.That(CpuBackend.TakesWinogradData(new Conv2dGeometry(8, 6, 14, 14, 16, 5, 1, 0, 1)), Is.True, "LeNet's second layer");
        Assert.That(CpuBackend.TakesWinogradData(new Conv2dGeometry(8, 6, 14, 14, 16, 3, 1, 0, 1)), Is.False, "a 3x3 kernel");
        Assert.That(CpuBackend.TakesWinogradData(new Conv2dGeometry(8, 4, 14, 14, 16, 5, 1, 0, 1)), Is.False, "4 input channels");
        Assert.That(CpuBackend.TakesWinogradData(new Conv2dGeometry(8, 6, 14, 14, 16, 5, 1, 0, 2)), Is.False, "dilation 2");
        Assert.That(CpuBackend.TakesWinogradData(new Conv2dGeometry(8, 6, 14, 14, 16, 5, 1, 5, 1)), Is.False, "padding 5 (more than the kernel reaches)");
    }

    /// <summary>
    /// F(4, 5) would spread a NaN or an infinity of dY over a tile's rows: that image runs the direct tiles (their bits),
    /// the other images keep the Winograd's bits.
    /// </summary>
    [TestCase(float.NaN, 1, 3, 0, 0)]
    [TestCase(float.PositiveInfinity, 0, 15, 9, 9)]
    [TestCase(float.NegativeInfinity, 2, 7, 4, 6)]
    public void AnImageWithANaNOrInfinityInDYRunsTheTiles(float poison, int image, int channel, int row, int column)
    {
        RequireAvx512();
        var g = new Conv2dGeometry(3, 6, 14, 14, 16, 5, 1, 0, 1);
        var dY = Random(g.OutputShape.Size, 8);
        var w = Random(g.WeightShape.Size, 9);
        dY[((image * g.OutChannels + channel) * g.OutHeight + row) * g.OutWidth + column] = poison;
        var dX = BackwardData(_two, g, dY, w);
        var tiles = BackwardDataByTiles(_two, g, dY, w);
        var clean = (float[])dY.Clone();
        clean[((image * g.OutChannels + channel) * g.OutHeight + row) * g.OutWidth + column] = 0.5f;
        var winogradClean = BackwardData(_two, g, clean, w);
        int size = g.InChannels * g.InHeight * g.InWidth;
        for (int n = 0; n < g.Batch; n++)
        {
            var expected = n == image ? tiles : winogradClean;
            Assert.That(Bits(dX[(n * size)..((n + 1) * size)]), Is.EqualTo(Bits(expected[(n * size)..((n + 1) * size)])),
                $"image {n} (poison {poison} in image {image}): expected the bits of {(n == image ? "the tiles" : "the Winograd on the clean dY")}");
        }
        Assert.That(Bits(winogradClean[..size]), Is.Not.EqualTo(Bits(BackwardDataByTiles(_two, g, clean, w)[..size])),
            "the Winograd and the tiles gave the same bits on a clean image: the comparison above could not tell them apart");
    }

    /// <summary>
    /// A NaN or infinite weight would meet the padding's zeros (0 * inf = NaN) where the direct sum skips them (an edge
    /// row of dX does not reach the kernel's last rows): the whole call runs the tiles.
    /// </summary>
    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void ANaNOrInfiniteWeightRunsTheTiles(float poison)
    {
        RequireAvx512();
        var g = new Conv2dGeometry(2, 6, 14, 14, 16, 5, 1, 0, 1);
        var dY = Random(g.OutputShape.Size, 10);
        var w = Random(g.WeightShape.Size, 11);
        w[(((3 * g.InChannels) + 2) * 5 + 4) * 5 + 4] = poison; // w[3, 2, 4, 4]: dX[., 2, 0, 0] never meets it
        var dX = BackwardData(_two, g, dY, w);
        Assert.That(Bits(dX), Is.EqualTo(Bits(BackwardDataByTiles(_two, g, dY, w))), "expected the tiles' bits");
        Assert.That(float.IsFinite(dX[2 * g.InHeight * g.InWidth]), Is.True, "dX[0, 2, 0, 0] does not reach w[3, 2, 4, 4]: expected a finite value");
    }

}
