using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The direct backward data in register tiles (6 input channels x 3 vectors of positions per kernel row, or 4 x 5):
/// against the double reference and the grid sweep it replaces, on one and two threads, over geometries with partial
/// tiles (position counts that are not multiples of 48 or 80), padding, dilation, groups and 1..16 output channels.
/// </summary>
[TestFixture]
public sealed class DirectBackwardDataTests
{
    private readonly CpuBackend _one = new(1);
    private readonly CpuBackend _two = new(2);

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _one.Dispose();
        _two.Dispose();
    }

    /// <summary>dX by the tiles: the Winograd backward data (kernels 5 tall, WinogradBackwardDataTests) switched off.</summary>
    private static float[] BackwardData(CpuBackend be, Conv2dGeometry g, float[] dY, float[] w) =>
        WinogradBackwardDataTests.BackwardDataByTiles(be, g, dY, w);

    private static float[] BackwardDataBySweep(CpuBackend be, Conv2dGeometry g, float[] dY, float[] w)
    {
        CpuBackend.DataTilesEnabled = false;
        try
        {
            return BackwardData(be, g, dY, w);
        }
        finally
        {
            CpuBackend.DataTilesEnabled = true;
        }
    }


    /// <summary>Stride-1 geometries with 4, 6, 8 or 12 input channels per group that the tiled backward data takes.</summary>
    private static Gen<Conv2dGeometry> TiledGeometries =>
        from n in Gen.Choose(1, 6) from groups in Gen.Choose(1, 2) from cg in Gen.Elements(4, 6, 8, 12) from kg in Gen.Choose(1, 16)
        from h in Gen.Choose(2, 17) from w in Gen.Choose(2, 23) from r in Gen.Choose(1, 5) from s in Gen.Choose(1, 5)
        from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4) from dh in Gen.Choose(1, 2) from dw in Gen.Choose(1, 3)
        let g = new Conv2dGeometry(n, groups * cg, h, w, groups * kg, (r, s), 1, new Padding2d(pads[0], pads[1], pads[2], pads[3]), (dh, dw), groups)
        where IsValid(g) && CpuBackend.TakesDataTiles(g)
        select g;

    /// <summary>The tiles' dX against the double reference, the same bits on 1 and 2 threads, and the sweep within the tolerance too.</summary>
    private void Check(Conv2dGeometry g, int seed)
    {
        var dY = Random(g.OutputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var tiles = BackwardData(_two, g, dY, w);
        ExpectSameBits(tiles, BackwardData(_one, g, dY, w), $"{g}: tiled backward data on 1 thread against 2");
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        var expected = ConvBackwardData(g, dY, w);
        var magnitude = ConvBackwardData(g, Abs(dY), Abs(w));
        ExpectClose(tiles, expected, magnitude, $"tiled backward data {g}");
        ExpectClose(BackwardDataBySweep(_two, g, dY, w), expected, magnitude, $"grid-sweep backward data {g}");
    }

    private static void RequireAvx512()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) Assert.Ignore("the tiled backward data needs AVX-512F, which this CPU lacks");
    }

    [Test]
    public void TiledBackwardDataAgreesWithTheReferenceOnOneAndTwoThreads()
    {
        RequireAvx512();
        Properties.Check(from g in TiledGeometries from seed in Properties.DataSeed select (g, seed), k => Check(k.g, k.seed), runs: 60);
    }

    /// <summary>
    /// LeNet's second layer at batch 64 and 3 (9 vectors of positions: three whole tiles per kernel row), padded 12- and
    /// 6-channel cases, and VGG-small's 32 -> 32 channel 3x3 layer at 28 x 28 (4 x 5 tiles).
    /// </summary>
    [TestCase(64, 6, 14, 14, 16, 5, 0)]
    [TestCase(3, 6, 14, 14, 16, 5, 0)]
    [TestCase(2, 12, 9, 12, 16, 5, 2)]
    [TestCase(5, 6, 28, 28, 8, 3, 1)]
    [TestCase(2, 32, 28, 28, 32, 3, 1)]
    public void TiledBackwardDataOfLeNetSizes(int n, int c, int h, int w, int k, int kernel, int pad)
    {
        RequireAvx512();
        var g = new Conv2dGeometry(n, c, h, w, k, kernel, 1, pad, 1);
        Assert.That(CpuBackend.TakesDataTiles(g), Is.True, $"{g}: expected the tiled backward data");
        Check(g, n + c + h + k);
    }

    /// <summary>The rule: AVX-512 and whole 6- or 4-channel tiles; LeNet's first layer (one input channel) keeps the grid sweep.</summary>
    [Test]
    public void TilesTakeWholeChannelTilesOnly()
    {
        var lenet1 = new Conv2dGeometry(64, 1, 28, 28, 6, 5, 1, 2, 1);
        Assert.That(CpuBackend.TakesDirect(lenet1) && !CpuBackend.TakesDataTiles(lenet1), Is.True,
            $"{lenet1}: expected the direct grid sweep, not the tiles");
        var lenet2 = new Conv2dGeometry(64, 6, 14, 14, 16, 5, 1, 0, 1);
        Assert.That(CpuBackend.TakesDataTiles(lenet2), Is.EqualTo(System.Runtime.Intrinsics.X86.Avx512F.IsSupported),
            $"{lenet2}: expected the tiles exactly when AVX-512 is supported");
    }
}
