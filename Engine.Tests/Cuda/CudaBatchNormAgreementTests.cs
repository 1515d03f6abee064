using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

// The per-channel primitives of batch normalization (batchnorm.ptx).
public partial class CudaAgreementTests
{
    private static readonly FsCheck.Gen<(ChannelGeometry G, int Seed)> ChannelCases =
        from n in Gen.Choose(1, 4) from c in Gen.Choose(1, 6) from inner in Gen.Elements(1, 3, 16, 17, 40)
        from seed in Gen.Choose(0, 100000)
        select (new ChannelGeometry(n, c, inner), seed);

    /// <summary>Both compute fma(x - center, scale, fma(z, zScale, shift)) (or shift without z) per element: bitwise.</summary>
    [Test]
    public void ChannelAffineAgreesBitwise() => ForAll(
        from c in ChannelCases from withZ in Gen.Elements(false, true) select (c.G, c.Seed, withZ),
        t =>
        {
            var g = t.G;
            float[] x = Random(t.Seed, g.Size), z = Random(t.Seed + 1, g.Size), center = Random(t.Seed + 2, g.Channels);
            float[] scale = Random(t.Seed + 3, g.Channels), zScale = Random(t.Seed + 4, g.Channels), shift = Random(t.Seed + 5, g.Channels);
            var (cpu, cuda) = Both([x, center, scale, z, zScale, shift], [g.Size], (b, i, o) =>
                b.ChannelAffine(g, i[0], i[1], i[2], t.withZ ? i[3] : null, t.withZ ? i[4] : null, i[5], o[0]));
            AssertBitwise(cpu[0], cuda[0], $"channel affine {g}{(t.withZ ? " with z" : "")}");
        });

    /// <summary>
    /// The sums differ in order only (CUDA in index order, the CPU by lanes): each of M terms is within
    /// (M - 1) u of the exact sum of |terms| in either, so sums differ by at most 2 M u sum|terms|, and the division by M
    /// adds an ulp each. The variance sums (x - mean)^2 about each side's own mean: a mean off by e changes it by
    /// at most 2 e sum|x - mean| / M + e^2 beyond its own 2 (M + 2) u sum (x - mean)^2 / M.
    /// </summary>
    [Test]
    public void ChannelStatisticsAgreeWithinTheSummationBound() => ForAll(ChannelCases, t =>
    {
        var g = t.G;
        var x = Random(t.Seed, g.Size, -1f, 3f);
        var (cpu, cuda) = Both([x], [g.Channels, g.Channels], (b, i, o) => b.ChannelStatistics(g, i[0], o[0], o[1]));
        var meanTolerance = new double[g.Channels];
        var varianceTolerance = new double[g.Channels];
        for (int c = 0; c < g.Channels; c++)
        {
            var values = Values(g, x, c);
            int m = g.Count;
            double mean = cpu[0][c];
            meanTolerance[c] = 2.0 * m * U * values.Sum(Math.Abs) / m + Ulps(2, cpu[0][c]);
            double squares = values.Sum(v => (v - mean) * (v - mean)), deviations = values.Sum(v => Math.Abs(v - mean));
            double e = meanTolerance[c];
            varianceTolerance[c] = 2.0 * (m + 2) * U * squares / m + 2 * e * deviations / m + e * e + Ulps(2, cpu[1][c]);
        }
        AssertWithin(cpu[0], cuda[0], c => meanTolerance[c], $"channel mean {g}");
        AssertWithin(cpu[1], cuda[1], c => varianceTolerance[c], $"channel variance {g}");
    });

    /// <summary>Same mean on both sides: sum dY within 2 M u sum|dY|, sum dY (x - mean) within 2 (M + 1) u sum|dY (x - mean)|.</summary>
    [Test]
    public void ChannelGradientSumsAgreeWithinTheSummationBound() => ForAll(ChannelCases, t =>
    {
        var g = t.G;
        float[] x = Random(t.Seed, g.Size), dY = Random(t.Seed + 1, g.Size), mean = Random(t.Seed + 2, g.Channels, -0.5f, 0.5f);
        var (cpu, cuda) = Both([x, dY, mean], [g.Channels, g.Channels], (b, i, o) => b.ChannelGradientSums(g, i[0], i[1], i[2], o[0], o[1]));
        var plainTolerance = new double[g.Channels];
        var centeredTolerance = new double[g.Channels];
        for (int c = 0; c < g.Channels; c++)
        {
            var xs = Values(g, x, c);
            var dys = Values(g, dY, c);
            plainTolerance[c] = 2.0 * g.Count * U * dys.Sum(Math.Abs);
            centeredTolerance[c] = 2.0 * (g.Count + 1) * U * xs.Zip(dys, (v, d) => Math.Abs(d * (v - mean[c]))).Sum();
        }
        AssertWithin(cpu[0], cuda[0], c => plainTolerance[c], $"channel sum of dY {g}");
        AssertWithin(cpu[1], cuda[1], c => centeredTolerance[c], $"channel sum of dY (x - mean) {g}");
    });

    /// <summary>The N*Inner values of channel c of x (N x C x Inner), as doubles.</summary>
    private static double[] Values(ChannelGeometry g, float[] x, int c) =>
        Enumerable.Range(0, g.Count).Select(j => (double)x[(j / g.Inner * g.Channels + c) * g.Inner + j % g.Inner]).ToArray();
}
