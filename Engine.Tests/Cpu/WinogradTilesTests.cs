using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The F(2x2, 3x3) forward of 3x3 stride-1 convolutions (CpuBackend's Conv2dWinogradTiles): against the double
/// reference within the convolution paths' tolerance, bitwise the same on 1 and 2 threads and whatever the chunk of
/// tiles, NaN as local as the direct sum's, and the transformed weights made again when the weights change; the data
/// gradient of the same convolutions as F(2x2, 3x3) of dY with the flipped, transposed weights.
/// </summary>
[TestFixture]
public sealed class WinogradTilesTests
{
    private readonly CpuBackend _one = new(1);
    private readonly CpuBackend _two = new(2);

    /// <summary>Float error per unit of sum |terms| (as for every convolution path).</summary>
    private const double Tolerance = 2e-6;

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _one.Dispose();
        _two.Dispose();
    }

    /// <summary>The forward with F(2x2, 3x3) off (the GEMM over im2col).</summary>
    private static float[] ForwardDirect(CpuBackend be, Conv2dGeometry g, float[] x, float[] w, float[]? bias)
    {
        CpuBackend.WinogradEnabled = false;
        try
        {
            return ForwardOn(be, g, x, w, bias);
        }
        finally
        {
            CpuBackend.WinogradEnabled = true;
        }
    }

    /// <summary>The forward with chunks of 32 tiles (cut inside images and maps).</summary>
    private static float[] ForwardInSmallChunks(CpuBackend be, Conv2dGeometry g, float[] x, float[] w, float[]? bias)
    {
        int kept = CpuBackend.WinogradTilesChunkFloats;
        CpuBackend.WinogradTilesChunkFloats = 1 << 10;
        try
        {
            return ForwardOn(be, g, x, w, bias);
        }
        finally
        {
            CpuBackend.WinogradTilesChunkFloats = kept;
        }
    }


    /// <summary>
    /// 32-70 channels in and out, maps of 4-17 x 4-17 pixels with 0-2 pixels of padding on each side (odd and even
    /// outputs: tiles that overhang the map), 1-4 images (32 tiles or more), with and without bias: close to the reference, and the same
    /// bits on 2 threads, on 1, and in chunks of 32 tiles.
    /// </summary>
    [Test]
    public void ForwardAgreesWithTheReferenceOnEveryThreadCountAndChunk() => Properties.Check(
        from n in Gen.Choose(1, 4) from c in Gen.Choose(32, 70) from k in Gen.Choose(32, 70)
        from h in Gen.Choose(4, 17) from w in Gen.Choose(4, 17) from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4)
        from withBias in Gen.Elements(true, false) from seed in Properties.DataSeed
        let g = new Conv2dGeometry(n, c, h, w, k, 3, 1, new Padding2d(pads[0], pads[1], pads[2], pads[3]), 1)
        where IsValid(g) && CpuBackend.TakesWinogradTiles(g)
        select (g, withBias, seed),
        k => Check(k.g, k.withBias, k.seed, chunks: true), runs: 40);

    /// <summary>ResNet-18's 3x3 layers at batch 1 or 2 (layer 1 at 56 x 56 crosses chunks of 512 tiles), and a 10x10 map unpadded.</summary>
    [TestCase(1, 64, 56, 56, 64, 1)]
    [TestCase(1, 128, 28, 28, 128, 1)]
    [TestCase(2, 256, 14, 14, 256, 1)]
    [TestCase(2, 512, 7, 7, 512, 1)]
    [TestCase(3, 40, 10, 10, 48, 0)]
    public void ForwardOfResNetSizes(int n, int c, int h, int w, int k, int pad)
    {
        var g = new Conv2dGeometry(n, c, h, w, k, 3, 1, pad, 1);
        Assert.That(CpuBackend.TakesWinogradTiles(g), Is.True, $"{g}: expected the F(2x2, 3x3) forward");
        Check(g, true, n + c, chunks: false);
    }

    private void Check(Conv2dGeometry g, bool withBias, int seed, bool chunks)
    {
        var x = Random(g.InputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var bias = withBias ? Random(g.OutChannels, seed + 2) : null;
        var y = ForwardOn(_two, g, x, w, bias);
        Expect.That(Bits(y).SequenceEqual(Bits(ForwardOn(_one, g, x, w, bias))), $"{g}: F(2x2, 3x3) differs in its bits between 2 threads and 1");
        if (chunks)
            Expect.That(Bits(y).SequenceEqual(Bits(ForwardInSmallChunks(_two, g, x, w, bias))), $"{g}: F(2x2, 3x3) differs in its bits between chunk sizes");
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        AssertClose(y, ConvForward(g, x, w, bias), ConvForward(g, Abs(x), Abs(w), bias is null ? null : Abs(bias)), Tolerance, $"F(2x2, 3x3) forward {g}");
    }

    /// <summary>
    /// A NaN input poisons exactly the outputs whose window holds it, as the direct sum does: at every row and column
    /// of a 9 x 9 map with padding 1 (odd output: the last tiles overhang), in the first and last images.
    /// </summary>
    [Test]
    public void NaNPoisonsOnlyTheWindowsThatHoldIt()
    {
        var g = new Conv2dGeometry(2, 32, 9, 9, 32, 3, 1, 1, 1);
        Assert.That(CpuBackend.TakesWinogradTiles(g), Is.True, $"{g}: expected the F(2x2, 3x3) forward");
        var w = Random(g.WeightShape.Size, 5);
        foreach (int n in new[] { 0, 1 })
            for (int row = 0; row < g.InHeight; row++)
                for (int col = 0; col < g.InWidth; col++)
                {
                    var x = Random(g.InputShape.Size, row * 16 + col);
                    x[((n * g.InChannels + 7) * g.InHeight + row) * g.InWidth + col] = float.NaN;
                    var actual = ForwardOn(_two, g, x, w, null).Select(float.IsNaN).ToArray();
                    int rows = Math.Min(row + 1, 8) - Math.Max(row - 1, 0) + 1, cols = Math.Min(col + 1, 8) - Math.Max(col - 1, 0) + 1;
                    Assert.That(actual.Count(b => b), Is.EqualTo(32 * rows * cols), $"{g}: NaN at image {n}, row {row}, column {col}: 32 channels x the pixels whose window holds it");
                    Assert.That(actual, Is.EqualTo(ForwardDirect(_two, g, x, w, null).Select(float.IsNaN).ToArray()),
                        $"{g}: NaN at image {n}, row {row}, column {col}: the NaN outputs differ from the direct sum's");
                }
    }

    /// <summary>
    /// The transformed weights are kept on the weight buffer: a second forward with unchanged weights gives the same bits,
    /// and one after the weights were written (as an optimizer step does) gives the new weights' outputs, not stale ones.
    /// </summary>
    [Test]
    public void WrittenWeightsAreTransformedAgain()
    {
        var g = new Conv2dGeometry(2, 48, 8, 8, 40, 3, 1, 1, 1);
        Assert.That(CpuBackend.TakesWinogradTiles(g), Is.True, $"{g}: expected the F(2x2, 3x3) forward");
        var x = Upload(_two, Random(g.InputShape.Size, 1));
        var w = Random(g.WeightShape.Size, 2);
        var weights = Upload(_two, w);
        var y = _two.Allocate(g.OutputShape.Size);
        _two.Conv2d(g, x, weights, null, y);
        var first = Download(_two, y, g.OutputShape.Size);
        _two.Conv2d(g, x, weights, null, y);
        Assert.That(Bits(Download(_two, y, g.OutputShape.Size)), Is.EqualTo(Bits(first)), "the same weights twice: expected the same bits");
        var scaled = w.Select(v => -2f * v).ToArray();
        scaled.CopyTo(((CpuBuffer)weights).Span);
        _two.Conv2d(g, x, weights, null, y);
        var xs = Download(_two, x, g.InputShape.Size);
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        AssertClose(Download(_two, y, g.OutputShape.Size), ConvForward(g, xs, scaled, null), ConvForward(g, Abs(xs), Abs(scaled), null), Tolerance,
            "after the weights were written: expected the new weights' outputs");
    }

    private static float[] BackwardData(CpuBackend be, Conv2dGeometry g, float[] dY, float[] w)
    {
        var dX = be.Allocate(g.InputShape.Size);
        be.Fill(dX, float.NaN, g.InputShape.Size); // every input's gradient written
        be.Conv2dBackwardData(g, Upload(be, dY), Upload(be, w), dX);
        return Download(be, dX, g.InputShape.Size);
    }

    /// <summary>
    /// The data gradient as F(2x2, 3x3) of dY with the flipped, transposed weights (32-70 channels each way, maps of
    /// 4-17 pixels a side, padding 0-2 on each side): close to the double reference, the same bits on 1 and 2 threads.
    /// </summary>
    [Test]
    public void BackwardDataAgreesWithTheReferenceOnEveryThreadCount() => Properties.Check(
        from n in Gen.Choose(1, 4) from c in Gen.Choose(32, 70) from k in Gen.Choose(32, 70)
        from h in Gen.Choose(4, 17) from w in Gen.Choose(4, 17) from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4)
        from seed in Properties.DataSeed
        let g = new Conv2dGeometry(n, c, h, w, k, 3, 1, new Padding2d(pads[0], pads[1], pads[2], pads[3]), 1)
        where IsValid(g) && CpuBackend.TakesWinogradTilesData(g)
        select (g, seed),
        t =>
        {
            var g = t.g;
            var dY = Random(g.OutputShape.Size, t.seed);
            var w = Random(g.WeightShape.Size, t.seed + 1);
            var dX = BackwardData(_two, g, dY, w);
            Expect.That(Bits(dX).SequenceEqual(Bits(BackwardData(_one, g, dY, w))), $"{g}: the F(2x2, 3x3) data gradient differs in its bits between 2 threads and 1");
            float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
            AssertClose(dX, ConvBackwardData(g, dY, w), ConvBackwardData(g, Abs(dY), Abs(w)), Tolerance, $"F(2x2, 3x3) data gradient {g}");
        }, runs: 30);

    /// <summary>
    /// The forward's and the data gradient's transformed weights live side by side on one weight buffer, and both are
    /// made again after the weights were written (a training step: forward, data gradient, optimizer, and again).
    /// </summary>
    [Test]
    public void ForwardAndDataGradientKeepTheirOwnTransformedWeights()
    {
        var g = new Conv2dGeometry(2, 40, 9, 9, 48, 3, 1, 1, 1);
        Assert.That(CpuBackend.TakesWinogradTiles(g) && CpuBackend.TakesWinogradTilesData(g), Is.True, $"{g}: expected F(2x2, 3x3) both ways");
        var x = Random(g.InputShape.Size, 1);
        var dY = Random(g.OutputShape.Size, 2);
        var weights = Upload(_two, Random(g.WeightShape.Size, 3));
        var y = _two.Allocate(g.OutputShape.Size);
        var dX = _two.Allocate(g.InputShape.Size);
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        for (int step = 0; step < 3; step++)
        {
            var w = step == 0 ? Download(_two, weights, g.WeightShape.Size) : Random(g.WeightShape.Size, 10 + step);
            w.CopyTo(((CpuBuffer)weights).Span);
            _two.Conv2d(g, Upload(_two, x), weights, null, y);
            _two.Conv2dBackwardData(g, Upload(_two, dY), weights, dX);
            AssertClose(Download(_two, y, g.OutputShape.Size), ConvForward(g, x, w, null), ConvForward(g, Abs(x), Abs(w), null), Tolerance, $"step {step}: forward");
            AssertClose(Download(_two, dX, g.InputShape.Size), ConvBackwardData(g, dY, w), ConvBackwardData(g, Abs(dY), Abs(w)), Tolerance, $"step {step}: data gradient");
        }
    }

    /// <summary>Which geometries take it: 3x3 at stride 1 and dilation 1, one group, 32+ channels each way, 32+ tiles.</summary>
    [Test]
    public void OnlyDenseThreeByThreeStrideOneConvolutionsTakeIt()
    {
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(8, 64, 56, 56, 64, 3, 1, 1, 1)), Is.True, "ResNet-18 layer 1");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(8, 64, 56, 56, 128, 3, 2, 1, 1)), Is.False, "stride 2");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(8, 64, 56, 56, 64, 3, 1, 2, 2)), Is.False, "dilation 2");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(8, 64, 56, 56, 64, 3, 1, 1, 1, 2)), Is.False, "two groups");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(8, 64, 56, 56, 64, 5, 1, 2, 1)), Is.False, "5x5");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(8, 16, 56, 56, 64, 3, 1, 1, 1)), Is.False, "16 input channels");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(1, 512, 1, 1, 512, 3, 1, 1, 1)), Is.False, "a 1x1 map (only the centre tap is live)");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(1, 512, 7, 7, 512, 3, 1, 1, 1)), Is.False, "16 tiles (ResNet-18's layer 4 at batch 1)");
        Assert.That(CpuBackend.TakesWinogradTiles(new Conv2dGeometry(2, 512, 7, 7, 512, 3, 1, 1, 1)), Is.True, "32 tiles");
    }
}
