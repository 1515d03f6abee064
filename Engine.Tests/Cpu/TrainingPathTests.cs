using Engine.Cpu;
using Engine.Tests.Primitives;
using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The CPU fast paths of a small conv net's training step against the scalar rules they replace and the references:
/// 2x2 stride-2 max pooling (even/odd split), per-output interleaved trailing sums (batch norm's statistics),
/// the vector SGD update, identity average pooling, and the direct convolution of shallow first layers.
/// </summary>
[TestFixture]
public sealed class TrainingPathTests
{
    private readonly CpuBackend _backend = new(2);

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    private DeviceBuffer Upload(float[] values)
    {
        var buffer = _backend.Allocate(values.Length);
        _backend.Upload(values, buffer);
        return buffer;
    }

    private float[] Download(DeviceBuffer buffer, int length)
    {
        var result = new float[length];
        _backend.Download(buffer, result);
        return result;
    }

    private (float[] Y, float[] Indices) MaxPool(Pool2dGeometry g, float[] x, bool scalar)
    {
        int outLength = g.OutputShape.Size;
        var y = _backend.Allocate(outLength);
        var indices = _backend.Allocate(outLength);
        CpuBackend.ForceScalarMaxPool = scalar;
        try
        {
            _backend.MaxPool2d(g, Upload(x), y, indices);
        }
        finally
        {
            CpuBackend.ForceScalarMaxPool = false;
        }
        return (Download(y, outLength), Download(indices, outLength));
    }

    private float[] MaxPoolBackward(Pool2dGeometry g, float[] dY, float[] indices, bool scalar)
    {
        var dX = _backend.Allocate(g.InputShape.Size);
        CpuBackend.ForceScalarMaxPool = scalar;
        try
        {
            _backend.MaxPool2dBackward(g, Upload(dY), Upload(indices), dX);
        }
        finally
        {
            CpuBackend.ForceScalarMaxPool = false;
        }
        return Download(dX, g.InputShape.Size);
    }

    /// <summary>
    /// Planes of 2..40 rows and columns (odd sizes drop the last row or column; rows past 8 outputs and partial groups),
    /// run in runs of planes (a batch of 45 makes several chunks of runs, the last one short).
    /// </summary>
    [Test]
    public void PairMaxPoolIsTheScalarLoopBitForBit() => Properties.Check(
        from n in Gen.Elements(1, 2, 45) from c in Gen.Choose(1, 3) from h in Gen.Choose(2, 40) from w in Gen.Choose(2, 40)
        from values in Gen.Elements(0, 2, 1000) from seed in Properties.DataSeed
        select (g: new Pool2dGeometry(n, c, h, w, 2, 2, 0, 1), values, seed),
        k =>
        {
            var random = new Random(k.seed);
            int length = k.g.InputShape.Size;
            var x = k.values == 0
                ? Numerics.DistinctShuffled(random, length).Select(v => (float)v).ToArray()
                : Enumerable.Range(0, length).Select(_ => (float)random.Next(k.values)).ToArray();
            bool special = k.seed % 3 == 0;
            if (special)
                for (int i = 0; i < 1 + length / 20; i++)
                    x[random.Next(length)] = random.Next(3) switch { 0 => float.NaN, 1 => float.NegativeInfinity, _ => float.PositiveInfinity };
            var (vectorY, vectorIndices) = MaxPool(k.g, x, scalar: false);
            var (scalarY, scalarIndices) = MaxPool(k.g, x, scalar: true);
            Expect.That(Bits(vectorY).SequenceEqual(Bits(scalarY)), $"{k.g} values {k.values}: 2x2 maxima differ in their bits from the scalar loop's");
            Expect.That(vectorIndices.SequenceEqual(scalarIndices), $"{k.g} values {k.values}: 2x2 indices differ from the scalar loop's");
            // backward: each pixel written once in the pair path, cleared then added to in the general one (-0 included)
            var dY = Enumerable.Range(0, scalarY.Length).Select(i => i % 7 == 0 ? -0f : (float)(random.NextDouble() * 2 - 1)).ToArray();
            var pairDX = MaxPoolBackward(k.g, dY, scalarIndices, scalar: false);
            var generalDX = MaxPoolBackward(k.g, dY, scalarIndices, scalar: true);
            Expect.That(Bits(pairDX).SequenceEqual(Bits(generalDX)), $"{k.g}: 2x2 backward differs in its bits from the general scatter");
            if (special) return; // the reference has no NaN rule
            var xd = x.Select(v => (double)v).ToArray();
            Numerics.AssertClose(pairDX, Pool2dReference.MaxPoolBackward(k.g, xd, dY.Select(v => (double)v).ToArray()), 0, 0, $"{k.g} backward against the reference");
            var (expected, argMax) = Pool2dReference.MaxPool(k.g, xd);
            Numerics.AssertClose(vectorY, expected, 0, 0, $"{k.g} against the reference");
            Numerics.AssertClose(vectorIndices, argMax.Select(i => (double)i).ToArray(), 0, 0, $"{k.g} indices against the reference");
        }, runs: 150);

    /// <summary>
    /// Sums whose reduced axes are trailing (batch norm's (N,C,H,W) -> (1,C,1,1), and shapes where neighbouring rows
    /// share an output): each output is its rows added one float at a time in increasing index order. At least one
    /// axis is kept (a single output is the full reduction, whose 8-partial order VectorPathTests checks).
    /// </summary>
    [Test]
    public void TrailingSumsAddEachOutputInIndexOrder() => Properties.Check(
        from dims in Gen.ArrayOf(Gen.Choose(2, 7), 3) from keep in Gen.ArrayOf(Gen.Elements(true, false), 3).Where(k => k.Contains(true))
        from trailing in Gen.Choose(2, 60) from seed in Properties.DataSeed
        select (dims, keep, trailing, seed),
        k =>
        {
            var xShape = new Shape(k.dims[0], k.dims[1], k.dims[2], k.trailing);
            var yDims = new[] { k.keep[0] ? k.dims[0] : 1, k.keep[1] ? k.dims[1] : 1, k.keep[2] ? k.dims[2] : 1, 1 };
            var yShape = new Shape(yDims);
            var random = new Random(k.seed);
            var x = Numerics.Uniform(random, xShape.Size, -100, 100).Select(v => (float)v).ToArray();
            var expected = new float[yShape.Size];
            for (int i = 0; i < x.Length; i++)
            {
                int a = i / (k.trailing * k.dims[2] * k.dims[1]), b = i / (k.trailing * k.dims[2]) % k.dims[1], c = i / k.trailing % k.dims[2];
                int o = ((k.keep[0] ? a : 0) * yDims[1] + (k.keep[1] ? b : 0)) * yDims[2] + (k.keep[2] ? c : 0);
                expected[o] += x[i];
            }
            var y = _backend.Allocate(yShape.Size);
            _backend.ReduceSum(Upload(x), xShape, y, yShape);
            Expect.That(Bits(Download(y, yShape.Size)).SequenceEqual(Bits(expected)),
                $"sum of {xShape} to {yShape}: differs in its bits from the in-order sums");
        }, runs: 100);

    /// <summary>The vector SGD update is the scalar formula bit for bit (PyTorch's order, no fused multiply-add).</summary>
    [Test]
    public void SgdVectorUpdateIsTheScalarFormula() => Properties.Check(
        from length in Gen.Choose(0, 100) from decay in Gen.Elements(0f, 5e-4f) from dampening in Gen.Elements(0f, 0.1f)
        from nesterov in Gen.Elements(false, true) from first in Gen.Elements(false, true) from seed in Properties.DataSeed
        select (length, decay, dampening: nesterov ? 0f : dampening, nesterov, first, seed),
        k =>
        {
            var random = new Random(k.seed);
            float[] Draw() => Numerics.Uniform(random, k.length).Select(v => (float)v).ToArray();
            var (p, g, m) = (Draw(), Draw(), Draw());
            var s = new SgdSettings(0.05f, 0.9f, k.dampening, k.decay, k.nesterov, k.first);
            var (expectedP, expectedM) = (p.ToArray(), m.ToArray());
            for (int i = 0; i < k.length; i++)
            {
                float d = g[i];
                if (s.WeightDecay != 0f) d += s.WeightDecay * expectedP[i];
                float buf = s.FirstStep ? d : s.Momentum * expectedM[i] + (1f - s.Dampening) * d;
                expectedM[i] = buf;
                d = s.Nesterov ? d + s.Momentum * buf : buf;
                expectedP[i] -= s.LearningRate * d;
            }
            var (pb, mb) = (Upload(p), Upload(m));
            _backend.SgdStep(s, pb, Upload(g), mb, k.length);
            Expect.That(Bits(Download(pb, k.length)).SequenceEqual(Bits(expectedP)), $"{s}, length {k.length}: parameters differ from the scalar formula");
            Expect.That(Bits(Download(mb, k.length)).SequenceEqual(Bits(expectedM)), $"{s}, length {k.length}: momentum differs from the scalar formula");
        }, runs: 60);

    /// <summary>Adaptive average pooling to the input's size, and 1x1 stride 1: the copy of x, and of dY going back.</summary>
    [Test]
    public void IdentityAveragePoolingCopies() => Properties.Check(
        from n in Gen.Choose(1, 3) from c in Gen.Choose(1, 4) from h in Gen.Choose(1, 9) from w in Gen.Choose(1, 9)
        from adaptive in Gen.Elements(true, false) from seed in Properties.DataSeed
        select (n, c, h, w, adaptive, seed),
        k =>
        {
            var shape = new Shape(k.n, k.c, k.h, k.w);
            var g = k.adaptive ? Pool2dGeometry.Adaptive(shape, new Size2(k.h, k.w)) : new Pool2dGeometry(k.n, k.c, k.h, k.w, 1, 1, 0, 1);
            var x = Numerics.Uniform(new Random(k.seed), shape.Size).Select(v => (float)v).ToArray();
            var y = _backend.Allocate(shape.Size);
            _backend.AvgPool2d(g, Upload(x), y);
            var forward = Download(y, shape.Size);
            Numerics.AssertClose(forward, Pool2dReference.AvgPool(g, x.Select(v => (double)v).ToArray()), 0, 0, $"{g} against the reference");
            Expect.That(Bits(forward).SequenceEqual(Bits(x)), $"{g}: the identity pooling is not a copy of x");
            var dX = _backend.Allocate(shape.Size);
            _backend.AvgPool2dBackward(g, Upload(x), dX);
            Expect.That(Bits(Download(dX, shape.Size)).SequenceEqual(Bits(x)), $"{g}: the identity pooling's backward is not a copy of dY");
        }, runs: 40);

    /// <summary>First layers (1 to 3 input channels, 17 to 40 output channels, stride 1) take the direct path beyond 16 channels.</summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry G, int Seed)> ShallowConvolutions =
        from n in Gen.Elements(1, 2, 9) from c in Gen.Choose(1, 3) from k in Gen.Choose(17, 40)
        from kernel in Gen.Choose(2, 3) from pad in Gen.Choose(0, 1) from h in Gen.Choose(3, 12) from w in Gen.Choose(3, 12)
        from seed in Properties.DataSeed
        select (new Conv2dGeometry(n, c, h, w, k, kernel, 1, pad, 1), seed);

    /// <summary>17 to 32 output channels on output planes of at least 28 x 28 (the direct path's wide case), up to 6 input channels.</summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry G, int Seed)> WidePlaneConvolutions =
        from n in Gen.Choose(1, 2) from c in Gen.Choose(4, 6) from k in Gen.Choose(17, 32)
        from h in Gen.Choose(28, 31) from w in Gen.Choose(28, 31) from seed in Properties.DataSeed
        select (new Conv2dGeometry(n, c, h, w, k, 3, 1, 1, 1), seed);

    [Test]
    public void WidePlaneConvolutionsMatchTheReference() => Properties.Check(WidePlaneConvolutions, CheckAgainstReference, runs: 6);

    [Test]
    public void ShallowConvolutionsWithManyChannelsMatchTheReference() => Properties.Check(ShallowConvolutions, CheckAgainstReference, runs: 40);

    /// <summary>Forward, backward data and backward weight (and bias) against the double reference.</summary>
    private void CheckAgainstReference((Conv2dGeometry G, int Seed) k)
    {
        var g = k.G;
        var random = new Random(k.Seed);
        var x = Numerics.Uniform(random, g.InputShape.Size);
        var w = Numerics.Uniform(random, g.WeightShape.Size);
        var bias = Numerics.Uniform(random, g.OutChannels);
        var dY = Numerics.Uniform(random, g.OutputShape.Size);
        static float[] F(double[] v) => v.Select(d => (float)d).ToArray();
        var y = _backend.Allocate(g.OutputShape.Size);
        _backend.Conv2d(g, Upload(F(x)), Upload(F(w)), Upload(F(bias)), y);
        Numerics.AssertClose(Download(y, g.OutputShape.Size), Conv2dReference.Forward(g, x, w, bias), 1e-4, 1e-5, $"forward {g}");
        var dX = _backend.Allocate(g.InputShape.Size);
        _backend.Conv2dBackwardData(g, Upload(F(dY)), Upload(F(w)), dX);
        Numerics.AssertClose(Download(dX, g.InputShape.Size), Conv2dReference.BackwardData(g, dY, w), 1e-4, 1e-5, $"backward data {g}");
        var dW = _backend.Allocate(g.WeightShape.Size);
        var dBias = _backend.Allocate(g.OutChannels);
        _backend.Conv2dBackwardWeight(g, Upload(F(x)), Upload(F(dY)), dW, dBias);
        var (expectedW, expectedB) = Conv2dReference.BackwardWeight(g, x, dY);
        Numerics.AssertClose(Download(dW, g.WeightShape.Size), expectedW, 1e-4, 1e-4, $"backward weight {g}");
        Numerics.AssertClose(Download(dBias, g.OutChannels), expectedB, 1e-4, 1e-4, $"backward bias {g}");
    }

    private static readonly FsCheck.Gen<(ChannelGeometry G, int Seed)> ChannelCases =
        from n in Gen.Choose(1, 5) from c in Gen.Choose(1, 7) from inner in Gen.Elements(1, 2, 15, 16, 17, 49, 100)
        from seed in Properties.DataSeed
        select (new ChannelGeometry(n, c, inner), seed);

    /// <summary>The N*Inner values of channel c of x (N x C x Inner).</summary>
    private static double[] Values(ChannelGeometry g, float[] x, int c) =>
        Enumerable.Range(0, g.Count).Select(j => (double)x[(j / g.Inner * g.Channels + c) * g.Inner + j % g.Inner]).ToArray();

    /// <summary>Mean and biased variance per channel against double sums (float sums of M terms: 1e-5 relative to the magnitudes).</summary>
    [Test]
    public void ChannelStatisticsMatchTheReference() => Properties.Check(ChannelCases, k =>
    {
        var g = k.G;
        var x = Numerics.Uniform(new Random(k.Seed), g.Size, -1, 3).Select(v => (float)v).ToArray();
        var (mean, variance) = (_backend.Allocate(g.Channels), _backend.Allocate(g.Channels));
        _backend.ChannelStatistics(g, Upload(x), mean, variance);
        var expectedMean = new double[g.Channels];
        var expectedVariance = new double[g.Channels];
        for (int c = 0; c < g.Channels; c++)
        {
            var v = Values(g, x, c);
            expectedMean[c] = v.Average();
            expectedVariance[c] = v.Sum(e => (e - expectedMean[c]) * (e - expectedMean[c])) / v.Length;
        }
        Numerics.AssertClose(Download(mean, g.Channels), expectedMean, 1e-5, 1e-5, $"channel mean {g}");
        Numerics.AssertClose(Download(variance, g.Channels), expectedVariance, 1e-5, 1e-5, $"channel variance {g}");
    }, runs: 60);

    [Test]
    public void ChannelGradientSumsMatchTheReference() => Properties.Check(ChannelCases, k =>
    {
        var g = k.G;
        var random = new Random(k.Seed);
        float[] Draw(int count) => Numerics.Uniform(random, count).Select(v => (float)v).ToArray();
        var (x, dY, mean) = (Draw(g.Size), Draw(g.Size), Draw(g.Channels));
        var (plain, centered) = (_backend.Allocate(g.Channels), _backend.Allocate(g.Channels));
        _backend.ChannelGradientSums(g, Upload(x), Upload(dY), Upload(mean), plain, centered);
        var expectedPlain = new double[g.Channels];
        var expectedCentered = new double[g.Channels];
        for (int c = 0; c < g.Channels; c++)
        {
            var (xs, ds) = (Values(g, x, c), Values(g, dY, c));
            expectedPlain[c] = ds.Sum();
            expectedCentered[c] = xs.Zip(ds, (v, d) => d * (v - mean[c])).Sum();
        }
        Numerics.AssertClose(Download(plain, g.Channels), expectedPlain, 1e-5, 1e-5, $"channel sum of dY {g}");
        Numerics.AssertClose(Download(centered, g.Channels), expectedCentered, 1e-5, 1e-5, $"channel sum of dY (x - mean) {g}");
    }, runs: 60);

    /// <summary>The affine map is its scalar formula bit for bit: fma(x - center, scale, fma(z, zScale, shift) or shift).</summary>
    [Test]
    public void ChannelAffineIsItsFusedFormula() => Properties.Check(
        from c in ChannelCases from withZ in Gen.Elements(false, true) select (c.G, c.Seed, withZ),
        k =>
        {
            var g = k.G;
            var random = new Random(k.Seed);
            float[] Draw(int count) => Numerics.Uniform(random, count).Select(v => (float)v).ToArray();
            var (x, z) = (Draw(g.Size), Draw(g.Size));
            var (center, scale, zScale, shift) = (Draw(g.Channels), Draw(g.Channels), Draw(g.Channels), Draw(g.Channels));
            var y = _backend.Allocate(g.Size);
            _backend.ChannelAffine(g, Upload(x), Upload(center), Upload(scale), k.withZ ? Upload(z) : null, k.withZ ? Upload(zScale) : null, Upload(shift), y);
            var expected = x.Select((v, i) =>
            {
                int c = i / g.Inner % g.Channels;
                float t = k.withZ ? MathF.FusedMultiplyAdd(z[i], zScale[c], shift[c]) : shift[c];
                return MathF.FusedMultiplyAdd(v - center[c], scale[c], t);
            }).ToArray();
            Expect.That(Bits(Download(y, g.Size)).SequenceEqual(Bits(expected)), $"channel affine {g}{(k.withZ ? " with z" : "")}: differs from its fused formula");
        }, runs: 60);
}
