using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The direct convolution's LeNet-sized paths: the forward with 16 output channels per vector (against the grid sweep
/// bit for bit, and the double reference), and the weight gradient's 4-channel x 5-tap tiles over passes of images
/// (channel counts that are not multiples of 4, tap counts that are not multiples of 5, passes shorter than a chunk),
/// on one and two threads.
/// </summary>
[TestFixture]
public sealed class DirectConvTests
{
    private readonly CpuBackend _one = new(1);
    private readonly CpuBackend _two = new(2);

    /// <summary>Float error per unit of sum |terms|.</summary>
    private const double Tolerance = 2e-6;

    /// <summary>The channel-vector kernels are AVX-512 only: without it no geometry takes them (the generators would search forever).</summary>
    [SetUp]
    public void RequireAvx512()
    {
        if (!GemmKernels.Use512) Assert.Ignore("the channel-vector direct kernels are AVX-512 only and this CPU has none (Vector256PathTests cover the fallback)");
    }

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _one.Dispose();
        _two.Dispose();
    }

    /// <summary>The forward with one of the backend's path switches off (<paramref name="enable"/> sets it), on again after.</summary>
    private static float[] ForwardWithout(Action<bool> enable, CpuBackend be, Conv2dGeometry g, float[] x, float[] w, float[]? bias)
    {
        enable(false);
        try
        {
            return ForwardOn(be, g, x, w, bias);
        }
        finally
        {
            enable(true);
        }
    }

    /// <summary>The forward with F(2, 5) off: the direct channel-vector kernels where they apply.</summary>
    private static float[] ForwardDirect(CpuBackend be, Conv2dGeometry g, float[] x, float[] w, float[]? bias) =>
        ForwardWithout(on => CpuBackend.WinogradEnabled = on, be, g, x, w, bias);

    /// <summary>The forward with channel vectors (and so F(2, 5)) off: the grid sweep.</summary>
    private static float[] ForwardBySweep(CpuBackend be, Conv2dGeometry g, float[] x, float[] w, float[]? bias) =>
        ForwardWithout(on => CpuBackend.ChannelVectorsEnabled = on, be, g, x, w, bias);

    /// <summary>Stride-1 geometries with 16 or 32 output channels per group that the channel-vector forward takes.</summary>
    private static Gen<Conv2dGeometry> ChannelVectorGeometries =>
        from n in Gen.Choose(1, 10) from groups in Gen.Choose(1, 2) from cg in Gen.Choose(1, 3) from kg in Gen.Elements(16, 32)
        from h in Gen.Choose(2, 16) from w in Gen.Choose(2, 23) from r in Gen.Choose(1, 5) from s in Gen.Choose(2, 5)
        from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4) from dh in Gen.Choose(1, 2) from dw in Gen.Choose(1, 2)
        let g = new Conv2dGeometry(n, groups * cg, h, w, groups * kg, (r, s), 1, new Padding2d(pads[0], pads[1], pads[2], pads[3]), (dh, dw), groups)
        where IsValid(g) && CpuBackend.TakesChannelVectors(g)
        select g;

    /// <summary>
    /// Unpadded inputs whose output rows are whole tiles (10 or 20 wide), which the channel-vector forward reads in
    /// place and transposes 16 pixels at a time across rows (odd and even heights: the lone last row of the two-row
    /// kernel too).
    /// </summary>
    private static Gen<Conv2dGeometry> InPlaceGeometries =>
        from n in Gen.Choose(1, 6) from groups in Gen.Choose(1, 2) from cg in Gen.Choose(1, 3) from kg in Gen.Elements(16, 32)
        from outH in Gen.Choose(1, 12) from outW in Gen.Elements(10, 20) from r in Gen.Choose(1, 5) from s in Gen.Choose(2, 5)
        from dh in Gen.Choose(1, 2) from dw in Gen.Choose(1, 2)
        let g = new Conv2dGeometry(n, groups * cg, outH + (r - 1) * dh, outW + (s - 1) * dw, groups * kg, (r, s), 1, 0, (dh, dw), groups)
        where IsValid(g) && CpuBackend.TakesChannelVectors(g) && CpuBackend.ReadsInPlace(g)
        select g;

    /// <summary>
    /// Winograd forwards, F(4, 5) tiles and F(2, 5) alone (kernels 5 wide, in-place inputs: 2-6 channels per group, 16
    /// or 32 output channels, 1-5 kernel rows at row dilation 1 or 2, rows 10 or 20 wide, 1 or 2 groups, with and
    /// without bias): within the direct paths' <see cref="Tolerance"/> of the double reference (the worst of 400 cases
    /// measured 8.1e-7 for F(4, 5), 7.0e-7 for F(2, 5); with 1 channel of 1 row, 5 terms an output, F(2, 5) reached
    /// 5.9e-6, hence <see cref="CpuBackend"/>'s 6-row minimum), and the same bits on 1 and 2 threads.
    /// </summary>
    [Test]
    public void WinogradForwardAgreesWithTheReferenceOnEveryThreadCount() => Properties.Check(
        from n in Gen.Choose(1, 10) from groups in Gen.Choose(1, 2) from cg in Gen.Choose(2, 6) from kg in Gen.Elements(16, 32)
        from outH in Gen.Choose(1, 12) from outW in Gen.Elements(10, 20) from r in Gen.Choose(1, 5) from dh in Gen.Choose(1, 2)
        from withBias in Gen.Elements(true, false) from seed in Properties.DataSeed
        let g = new Conv2dGeometry(n, groups * cg, outH + (r - 1) * dh, outW + 4, groups * kg, (r, 5), 1, 0, (dh, 1), groups)
        where IsValid(g) && CpuBackend.TakesWinograd(g)
        select (g, withBias, seed),
        k => CheckWinograd(k.g, k.withBias, k.seed), runs: 80);

    /// <summary>LeNet's second layer at batch 64 and 3, and two groups of 6 -> 16 channels.</summary>
    [TestCase(64, 6, 14, 14, 16, 1)]
    [TestCase(3, 6, 14, 14, 16, 1)]
    [TestCase(2, 12, 14, 14, 32, 2)]
    public void WinogradForwardOfLeNetSizes(int n, int c, int h, int w, int k, int groups)
    {
        var g = new Conv2dGeometry(n, c, h, w, k, 5, 1, 0, 1, groups);
        Assert.That(CpuBackend.TakesWinograd(g), Is.True, $"{g}: expected the F(2, 5) forward");
        CheckWinograd(g, true, n + c);
    }

    /// <summary>
    /// The forward with F(4, 5) tiles (the default) and with F(2, 5) alone: each within <see cref="Tolerance"/> of the
    /// double reference and the same bits on 1 and 2 threads; and not each other's bits (so both ran).
    /// </summary>
    private void CheckWinograd(Conv2dGeometry g, bool withBias, int seed)
    {
        var x = Random(g.InputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var bias = withBias ? Random(g.OutChannels, seed + 2) : null;
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        var expected = ConvForward(g, x, w, bias);
        var magnitude = ConvForward(g, Abs(x), Abs(w), bias is null ? null : Abs(bias));
        var y = ForwardOn(_two, g, x, w, bias);
        Expect.That(Bits(y).SequenceEqual(Bits(ForwardOn(_one, g, x, w, bias))), $"{g}: the F(4, 5) forward differs in its bits between 2 threads and 1");
        AssertClose(y, expected, magnitude, Tolerance, $"F(4, 5) forward {g}");
        var rows = ForwardWithout(on => CpuBackend.WinogradHybridEnabled = on, _two, g, x, w, bias);
        Expect.That(Bits(rows).SequenceEqual(Bits(ForwardWithout(on => CpuBackend.WinogradHybridEnabled = on, _one, g, x, w, bias))),
            $"{g}: the F(2, 5) forward differs in its bits between 2 threads and 1");
        AssertClose(rows, expected, magnitude, Tolerance, $"F(2, 5) forward {g}");
        Expect.That(!Bits(rows).SequenceEqual(Bits(y)), $"{g}: F(4, 5) and F(2, 5) gave the same bits (expected different rounding: did both run?)");
    }

    /// <summary>
    /// F(4, 5) tiles would spread a NaN or an infinity over their four outputs, so an image whose input holds one runs
    /// through F(2, 5) alone: that image gets F(2, 5)'s bits, the other images F(4, 5)'s (the last image included, which
    /// reads a copy of its input). A poison in an image's first two inputs leaves the image before it on F(4, 5): the
    /// transposes of that image's last row read them (columns 14 and 15 of a 14-wide row) but no kept output uses them.
    /// </summary>
    [TestCase(float.NaN, 1, 3, 6, 9)]
    [TestCase(float.PositiveInfinity, 2, 3, 6, 9)]
    [TestCase(float.NegativeInfinity, 0, 3, 6, 9)]
    [TestCase(float.NaN, 1, 0, 0, 0)]
    [TestCase(float.PositiveInfinity, 2, 0, 0, 1)]
    public void AnImageWithANaNOrInfinityRunsF25Alone(float poison, int image, int channel, int row, int column)
    {
        var g = new Conv2dGeometry(3, 6, 14, 14, 16, 5, 1, 0, 1);
        Assert.That(CpuBackend.TakesWinograd(g), Is.True, $"{g}: expected the Winograd forward");
        var w = Random(g.WeightShape.Size, 5);
        var bias = Random(g.OutChannels, 6);
        var x = Random(g.InputShape.Size, 7);
        int at = ((image * g.InChannels + channel) * g.InHeight + row) * g.InWidth + column;
        x[at] = poison;
        int outImage = g.OutChannels * g.OutHeight * g.OutWidth;
        var hybrid = ForwardOn(_two, g, x, w, bias);
        var rows = ForwardWithout(on => CpuBackend.WinogradHybridEnabled = on, _two, g, x, w, bias);
        var clean = (float[])x.Clone();
        clean[at] = 0.5f;
        var hybridClean = ForwardOn(_two, g, clean, w, bias);
        for (int n = 0; n < g.Batch; n++)
        {
            var expected = n == image ? rows : hybridClean;
            Assert.That(Bits(hybrid[(n * outImage)..((n + 1) * outImage)]), Is.EqualTo(Bits(expected[(n * outImage)..((n + 1) * outImage)])),
                $"image {n} (poison {poison} in image {image}): expected the bits of {(n == image ? "F(2, 5) alone" : "F(4, 5) on the clean input")}");
        }
        Assert.That(Bits(hybridClean[..outImage]), Is.Not.EqualTo(Bits(ForwardWithout(on => CpuBackend.WinogradHybridEnabled = on, _two, g, clean, w, bias)[..outImage])),
            "F(4, 5) and F(2, 5) gave the same bits on a clean image: the comparison above could not tell them apart");
    }

    /// <summary>
    /// A NaN input poisons exactly the outputs whose window holds it, as in the direct sum: the transform's point at
    /// infinity keeps each output of a pair free of the other's outer input (checked at every column of a row, the
    /// first and last images, so also through the copy the last image reads).
    /// </summary>
    [Test]
    public void WinogradForwardPoisonsOnlyTheWindowsOfANaN()
    {
        var g = new Conv2dGeometry(3, 6, 14, 14, 16, 5, 1, 0, 1);
        Assert.That(CpuBackend.TakesWinograd(g), Is.True, $"{g}: expected the F(2, 5) forward");
        var w = Random(g.WeightShape.Size, 5);
        foreach (int n in new[] { 0, 2 })
            for (int col = 0; col < g.InWidth; col++)
            {
                var x = Random(g.InputShape.Size, col);
                x[((n * g.InChannels + 4) * g.InHeight + 7) * g.InWidth + col] = float.NaN;
                var expected = ForwardDirect(_one, g, x, w, null).Select(float.IsNaN).ToArray();
                var actual = ForwardOn(_two, g, x, w, null).Select(float.IsNaN).ToArray();
                Assert.That(actual, Is.EqualTo(expected), $"{g}: NaN at image {n}, channel 4, row 7, column {col}: the NaN outputs differ from the direct sum's");
                Assert.That(actual.Count(b => b), Is.EqualTo(16 * 5 * (Math.Min(col, 9) - Math.Max(col - 4, 0) + 1)), "NaN outputs: 16 channels x 5 rows x the columns whose window holds it");
            }
    }

    /// <summary>
    /// F(2, 5)'s transformed weights are kept on the weight buffer: unchanged weights give the same bits again, and
    /// after the weights were written (an optimizer step) the forward gives the new weights' outputs, not stale ones.
    /// </summary>
    [Test]
    public void WinogradWeightsAreMadeAgainWhenTheWeightsAreWritten()
    {
        var g = new Conv2dGeometry(3, 6, 14, 14, 16, 5, 1, 0, 1);
        Assert.That(CpuBackend.TakesWinograd(g), Is.True, $"{g}: expected the F(2, 5) forward");
        var x = Random(g.InputShape.Size, 1);
        var weights = Upload(_two, Random(g.WeightShape.Size, 2));
        var y = _two.Allocate(g.OutputShape.Size);
        float[]? previous = null;
        for (int step = 0; step < 3; step++)
        {
            var w = step == 0 ? Download(_two, weights, g.WeightShape.Size) : Random(g.WeightShape.Size, 10 + step);
            w.CopyTo(((CpuBuffer)weights).Span);
            _two.Conv2d(g, Upload(_two, x), weights, null, y);
            var first = Download(_two, y, g.OutputShape.Size);
            _two.Conv2d(g, Upload(_two, x), weights, null, y);
            Assert.That(Bits(Download(_two, y, g.OutputShape.Size)), Is.EqualTo(Bits(first)), $"step {step}: the same weights twice, expected the same bits");
            Assert.That(Bits(first), Is.EqualTo(Bits(ForwardOn(_one, g, x, w, null))), $"step {step}: expected the bits of a fresh backend's forward with these weights");
            Assert.That(previous is null || !Bits(previous).SequenceEqual(Bits(first)), Is.True, $"step {step}: new weights, expected new outputs");
            previous = first;
        }
    }

    [Test]
    public void LeNetSecondLayerIsReadInPlace() =>
        Assert.That(CpuBackend.ReadsInPlace(new Conv2dGeometry(64, 6, 14, 14, 16, 5, 1, 0, 1)), Is.True, "LeNet's second layer: expected its input read in place");

    /// <summary>A map whose staged outputs would pass the in-place bound (196 x 200 pixels) takes the padded copy, same bits.</summary>
    [Test]
    public void LargeMapsTakeThePaddedCopy()
    {
        var g = new Conv2dGeometry(1, 1, 200, 204, 16, 5, 1, 0, 1);
        Assert.That(CpuBackend.TakesChannelVectors(g), Is.True, $"{g}: expected the channel-vector forward");
        Assert.That(CpuBackend.ReadsInPlace(g), Is.False, $"{g}: expected the padded copy (staged outputs past the bound)");
        var x = Random(g.InputShape.Size, 1);
        var w = Random(g.WeightShape.Size, 2);
        Assert.That(Bits(ForwardOn(_two, g, x, w, null)), Is.EqualTo(Bits(ForwardBySweep(_two, g, x, w, null))), $"{g}: channel vectors against the grid sweep, bits");
    }


    /// <summary>Half the cases from each generator: padded copies, and inputs read in place.</summary>
    [Test]
    public void ChannelVectorForwardIsTheGridSweepBitForBitAndAgreesWithTheReference() => Properties.Check(
        from g in Gen.OneOf(ChannelVectorGeometries, InPlaceGeometries) from withBias in Gen.Elements(true, false) from seed in Properties.DataSeed
        select (g, withBias, seed),
        k =>
        {
            var x = Random(k.g.InputShape.Size, k.seed);
            var w = Random(k.g.WeightShape.Size, k.seed + 1);
            var bias = k.withBias ? Random(k.g.OutChannels, k.seed + 2) : null;
            var vectors = ForwardDirect(_two, k.g, x, w, bias);
            Expect.That(Bits(vectors).SequenceEqual(Bits(ForwardBySweep(_two, k.g, x, w, bias))),
                $"{k.g}: the channel-vector forward differs in its bits from the grid sweep");
            Expect.That(Bits(vectors).SequenceEqual(Bits(ForwardDirect(_one, k.g, x, w, bias))),
                $"{k.g}: the channel-vector forward differs in its bits between 2 threads and 1");
            float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
            AssertClose(vectors, ConvForward(k.g, x, w, bias), ConvForward(k.g, Abs(x), Abs(w), bias is null ? null : Abs(bias)),
                Tolerance, $"channel-vector forward {k.g}");
        }, runs: 120);

    /// <summary>
    /// Groups of 6, 12, 18 or 30 output channels run the grid sweep in 6-channel blocks (three vectors of positions per
    /// pass, then single vectors): the bits of the 8-channel blocks, on 1 and 2 threads, and the reference's values.
    /// LeNet's first layer is the first case.
    /// </summary>
    [Test]
    public void NarrowBlockForwardIsTheEightChannelSweepBitForBit() => Properties.Check(
        from n in Gen.Choose(1, 9) from groups in Gen.Choose(1, 2) from cg in Gen.Choose(1, 3) from kg in Gen.Elements(6, 12, 18, 30)
        from h in Gen.Choose(2, 30) from w in Gen.Choose(2, 30) from r in Gen.Choose(1, 5) from s in Gen.Choose(1, 5)
        from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4) from dh in Gen.Choose(1, 2) from dw in Gen.Choose(1, 2)
        from withBias in Gen.Elements(true, false) from seed in Properties.DataSeed
        let g = new Conv2dGeometry(n, groups * cg, h, w, groups * kg, (r, s), 1, new Padding2d(pads[0], pads[1], pads[2], pads[3]), (dh, dw), groups)
        where IsValid(g) && CpuBackend.TakesNarrowBlocks(g)
        select (g, withBias, seed),
        k =>
        {
            var x = Random(k.g.InputShape.Size, k.seed);
            var w = Random(k.g.WeightShape.Size, k.seed + 1);
            var bias = k.withBias ? Random(k.g.OutChannels, k.seed + 2) : null;
            var narrow = ForwardOn(_two, k.g, x, w, bias);
            float[] wide;
            CpuBackend.NarrowBlocksEnabled = false;
            try
            {
                Expect.That(!CpuBackend.TakesNarrowBlocks(k.g), $"{k.g}: the switch should send it to 8-channel blocks");
                wide = ForwardOn(_two, k.g, x, w, bias);
            }
            finally
            {
                CpuBackend.NarrowBlocksEnabled = true;
            }
            Expect.That(Bits(narrow).SequenceEqual(Bits(wide)), $"{k.g}: 6-channel blocks differ in their bits from 8-channel blocks");
            Expect.That(Bits(narrow).SequenceEqual(Bits(ForwardOn(_one, k.g, x, w, bias))), $"{k.g}: 6-channel blocks differ in their bits between 2 threads and 1");
            float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
            AssertClose(narrow, ConvForward(k.g, x, w, bias), ConvForward(k.g, Abs(x), Abs(w), bias is null ? null : Abs(bias)),
                Tolerance, $"6-channel forward {k.g}");
        }, runs: 60);

    [Test]
    public void LeNetFirstLayerRunsSixChannelBlocks() =>
        Assert.That(CpuBackend.TakesNarrowBlocks(new Conv2dGeometry(64, 1, 28, 28, 6, 5, 1, 2, 1)), Is.True, "LeNet's first layer: expected 6-channel blocks");

    /// <summary>LeNet's second layer (5-wide rows: the shared-broadcast kernel) at batch 64 and 3, and 32 channels padded.</summary>
    [TestCase(64, 6, 14, 14, 16, 5, 0)]
    [TestCase(3, 6, 14, 14, 16, 5, 0)]
    [TestCase(2, 1, 9, 12, 32, 5, 1)]
    public void ChannelVectorForwardOfLeNetSizes(int n, int c, int h, int w, int k, int kernel, int pad)
    {
        var g = new Conv2dGeometry(n, c, h, w, k, kernel, 1, pad, 1);
        Assert.That(CpuBackend.TakesChannelVectors(g), Is.True, $"{g}: expected the channel-vector forward");
        var x = Random(g.InputShape.Size, n);
        var wt = Random(g.WeightShape.Size, n + 1);
        var bias = Random(k, n + 2);
        var vectors = ForwardDirect(_two, g, x, wt, bias);
        Assert.That(Bits(vectors), Is.EqualTo(Bits(ForwardBySweep(_two, g, x, wt, bias))), $"{g}: channel vectors against the grid sweep, bits");
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        AssertClose(vectors, ConvForward(g, x, wt, bias), ConvForward(g, Abs(x), Abs(wt), Abs(bias)), Tolerance, $"channel-vector forward {g}");
    }

    private static (float[] DW, float[] DBias) BackwardWeight(CpuBackend be, Conv2dGeometry g, float[] x, float[] dY)
    {
        var dW = be.Allocate(g.WeightShape.Size);
        var dBias = be.Allocate(g.OutChannels);
        be.Fill(dW, float.NaN, g.WeightShape.Size); // overwritten, never accumulated
        be.Conv2dBackwardWeight(g, Upload(be, x), Upload(be, dY), dW, dBias);
        return (Download(be, dW, g.WeightShape.Size), Download(be, dBias, g.OutChannels));
    }

    private void CheckWeightGradient(Conv2dGeometry g, int seed)
    {
        var x = Random(g.InputShape.Size, seed);
        var dY = Random(g.OutputShape.Size, seed + 1);
        var (dW, dBias) = BackwardWeight(_two, g, x, dY);
        var (dWOne, dBiasOne) = BackwardWeight(_one, g, x, dY);
        Expect.That(Bits(dW).SequenceEqual(Bits(dWOne)) && Bits(dBias).SequenceEqual(Bits(dBiasOne)),
            $"{g}: the direct weight gradient differs in its bits between 2 threads and 1");
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
        AssertClose(dW, ConvBackwardWeight(g, x, dY), ConvBackwardWeight(g, Abs(x), Abs(dY)), Tolerance, $"direct weight gradient {g}");
        // the bias gradient sums up to thousands of values that may cancel: the tolerance scales with sum |dY|
        int pq = g.OutHeight * g.OutWidth;
        var expectedBias = new double[g.OutChannels];
        var biasMagnitude = new double[g.OutChannels];
        for (int i = 0; i < dY.Length; i++)
        {
            expectedBias[i / pq % g.OutChannels] += dY[i];
            biasMagnitude[i / pq % g.OutChannels] += Math.Abs(dY[i]);
        }
        AssertClose(dBias, expectedBias, biasMagnitude, 1e-5, $"direct bias gradient {g}");
    }

    /// <summary>1..19 images (up to 8 chunks of several images), 1..20 output channels, 1..5 x 1..5 kernels, groups, dilation, padding.</summary>
    [Test]
    public void DirectWeightGradientTilesAgreeWithTheReference() => Properties.Check(
        from n in Gen.Choose(1, 19) from groups in Gen.Choose(1, 2) from cg in Gen.Choose(1, 3) from kg in Gen.Choose(1, 20)
        from h in Gen.Choose(2, 14) from w in Gen.Choose(2, 14) from r in Gen.Choose(1, 5) from s in Gen.Choose(2, 5)
        from pad in Gen.Choose(0, 2) from dh in Gen.Choose(1, 2) from seed in Properties.DataSeed
        let g = new Conv2dGeometry(n, groups * cg, h, w, groups * kg, (r, s), 1, pad, (dh, 1), groups)
        where IsValid(g) && CpuBackend.TakesDirect(g)
        select (g, seed),
        k => CheckWeightGradient(k.g, k.seed), runs: 60);

    /// <summary>
    /// The channel-vector weight gradient (kernels 5 wide, 16 or 32 output channels per group): rows that are not whole
    /// tiles of 10, planes that are not whole runs of 16 pixels (the staged last transpose), groups, padding and row
    /// dilation; against the reference, the grid tiles, and 1 thread against 2.
    /// </summary>
    [Test]
    public void ChannelVectorWeightGradientAgreesWithTheReferenceAndTheGridTiles() => Properties.Check(
        from n in Gen.Choose(1, 12) from groups in Gen.Choose(1, 2) from cg in Gen.Choose(1, 3) from kg in Gen.Elements(16, 32)
        from h in Gen.Choose(2, 16) from w in Gen.Choose(5, 27) from r in Gen.Choose(1, 5)
        from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4) from dh in Gen.Choose(1, 2) from seed in Properties.DataSeed
        let g = new Conv2dGeometry(n, groups * cg, h, w, groups * kg, (r, 5), 1, new Padding2d(pads[0], pads[1], pads[2], pads[3]), (dh, 1), groups)
        where IsValid(g) && CpuBackend.TakesChannelVectorWeightGradient(g)
        select (g, seed),
        k =>
        {
            CheckWeightGradient(k.g, k.seed);
            var x = Random(k.g.InputShape.Size, k.seed);
            var dY = Random(k.g.OutputShape.Size, k.seed + 1);
            var vectors = BackwardWeight(_two, k.g, x, dY).DW;
            CpuBackend.ChannelVectorsEnabled = false;
            try
            {
                float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();
                AssertClose(vectors, BackwardWeight(_two, k.g, x, dY).DW.Select(v => (double)v).ToArray(), ConvBackwardWeight(k.g, Abs(x), Abs(dY)),
                    Tolerance, $"channel-vector weight gradient against the grid tiles {k.g}");
            }
            finally
            {
                CpuBackend.ChannelVectorsEnabled = true;
            }
        }, runs: 60);

    /// <summary>
    /// Planes big enough that a pass holds 2 images while a chunk has 3 (24 images in 8 chunks): the chunk's sum runs
    /// over two passes, each adding its lane sums; and LeNet's two layers at batch 64.
    /// </summary>
    [TestCase(24, 12, 60, 60, 4, 5, 2)]
    [TestCase(64, 1, 28, 28, 6, 5, 2)]
    [TestCase(64, 6, 14, 14, 16, 5, 0)]
    public void DirectWeightGradientOverSeveralPassesAgreesWithTheReference(int n, int c, int h, int w, int k, int kernel, int pad)
    {
        var g = new Conv2dGeometry(n, c, h, w, k, kernel, 1, pad, 1);
        Assert.That(CpuBackend.TakesDirect(g), Is.True, $"{g}: expected the direct path");
        Assert.That(CpuBackend.TakesChannelVectorWeightGradient(g), Is.EqualTo(k == 16), $"{g}: channel vectors only for LeNet's second layer");
        CheckWeightGradient(g, n + c + h);
    }
}
