using Engine.Nn;
using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>Normalization layers against double-precision formulas, with finite-difference gradients.</summary>
public class NormalizationTests
{
    /// <summary>Normalizes x over the groups given by key(i): (x - mean_g) / sqrt(var_g + eps), biased variance.</summary>
    private static double[] Standardize(double[] x, Func<int, int> key, int groups, double eps)
    {
        var sum = new double[groups];
        var count = new int[groups];
        for (int i = 0; i < x.Length; i++) { sum[key(i)] += x[i]; count[key(i)]++; }
        var mean = sum.Select((s, g) => s / count[g]).ToArray();
        var sq = new double[groups];
        for (int i = 0; i < x.Length; i++) sq[key(i)] += (x[i] - mean[key(i)]) * (x[i] - mean[key(i)]);
        return x.Select((v, i) => (v - mean[key(i)]) / Math.Sqrt(sq[key(i)] / count[key(i)] + eps)).ToArray();
    }

    [Test]
    public void BatchNormTrainingMatchesReference() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(2, 4), c = rng.Next(1, 4), h = rng.Next(1, 4), w = rng.Next(1, 4);
            var shape = new Shape(n, c, h, w);
            int hw = h * w;
            GradCheck.Check(rng,
                [(GradCheck.Random(rng, shape.Size), shape), (GradCheck.Random(rng, c, 0.5, 1.5), new Shape(c)), (GradCheck.Random(rng, c), new Shape(c))],
                t => Ops.BatchNorm(t[0], null, null, t[1], t[2], training: true),
                v => Standardize(v[0], i => i / hw % c, c, 1e-5).Select((z, i) => z * v[1][i / hw % c] + v[2][i / hw % c]).ToArray());
        });

    /// <summary>Without affine parameters, on (N,C) and (N,C,L) inputs: the gradient of x alone.</summary>
    [Test]
    public void BatchNormTrainingWithoutAffineMatchesReference() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(2, 5), c = rng.Next(1, 4), l = rng.Next(1, 4);
            var shape = seed % 2 == 0 ? new Shape(n, c) : new Shape(n, c, l);
            int inner = shape.Size / (n * c);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)],
                t => Ops.BatchNorm(t[0], null, null, null, null, training: true),
                v => Standardize(v[0], i => i / inner % c, c, 1e-5));
        });

    [Test]
    public void BatchNormUpdatesRunningStatisticsLikePyTorch()
    {
        using var scope = Scope.Begin();
        var bn = new BatchNorm2d(2, momentum: 0.5f);
        bn.To(GradCheck.Backend);
        // channel 0 holds 1,2,3,4; channel 1 holds 0,0,0,8 (N=2, H=1, W=2).
        var x = Tensor.FromArray(GradCheck.Backend, [1, 2, 0, 0, 3, 4, 0, 8], new Shape(2, 2, 1, 2));
        bn.Forward(x);
        // mean (2.5, 2); unbiased var (5/3, 16); running = 0.5 * old + 0.5 * batch.
        Assert.That(bn.RunningMean!.Value.ToArray(), Is.EqualTo(new[] { 1.25f, 1f }).Within(1e-6));
        Assert.That(bn.RunningVar!.Value.ToArray(), Is.EqualTo(new[] { 0.5f + 0.5f * 5f / 3f, 0.5f + 8f }).Within(1e-5));
        Assert.That(bn.BatchesTracked!.Value.Item(), Is.EqualTo(1f));
        bn.Eval();
        var y = bn.Forward(x).ToArray();
        Assert.That(y[0], Is.EqualTo((1 - 1.25) / Math.Sqrt(0.5 + 5.0 / 6 + 1e-5)).Within(1e-5), "eval uses the running statistics");
    }

    [Test]
    public void BatchNormRejectsOneValuePerChannelInTraining()
    {
        using var scope = Scope.Begin();
        var bn = new BatchNorm1d(3);
        bn.To(GradCheck.Backend);
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Zeros(GradCheck.Backend, new Shape(1, 3))));
        Assert.That(e!.Message, Does.Contain("more than 1 value per channel"));
    }

    [Test]
    public void LayerNormOverLastTwoAxesMatchesReference() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int a = rng.Next(1, 4), b = rng.Next(1, 4), c = rng.Next(2, 5);
            var shape = new Shape(a, b, c);
            GradCheck.Check(rng,
                [(GradCheck.Random(rng, shape.Size), shape), (GradCheck.Random(rng, b * c), new Shape(b, c)), (GradCheck.Random(rng, b * c), new Shape(b, c))],
                t => Ops.LayerNorm(t[0], 2, t[1], t[2]),
                v => Standardize(v[0], i => i / (b * c), a, 1e-5).Select((z, i) => z * v[1][i % (b * c)] + v[2][i % (b * c)]).ToArray());
        });

    [Test]
    public void ChannelLayerNormMatchesReference() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), c = rng.Next(2, 5), hw = rng.Next(1, 5);
            var shape = new Shape(n, c, 1, hw);
            GradCheck.Check(rng,
                [(GradCheck.Random(rng, shape.Size), shape), (GradCheck.Random(rng, c), new Shape(c)), (GradCheck.Random(rng, c), new Shape(c))],
                t => Ops.LayerNormChannels(t[0], t[1], t[2]),
                v => Standardize(v[0], i => i / (c * hw) * hw + i % hw, n * hw, 1e-6).Select((z, i) => z * v[1][i / hw % c] + v[2][i / hw % c]).ToArray());
        });

    [Test]
    public void GroupNormMatchesReference() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), groups = rng.Next(1, 4), per = rng.Next(1, 3), hw = rng.Next(1, 5), c = groups * per;
            var shape = new Shape(n, c, hw);
            GradCheck.Check(rng,
                [(GradCheck.Random(rng, shape.Size), shape), (GradCheck.Random(rng, c), new Shape(c)), (GradCheck.Random(rng, c), new Shape(c))],
                t => Ops.GroupNorm(t[0], groups, t[1], t[2]),
                v => Standardize(v[0], i => i / (per * hw), n * groups, 1e-5).Select((z, i) => z * v[1][i / hw % c] + v[2][i / hw % c]).ToArray());
        });

    [Test]
    public void LocalResponseNormMatchesReference() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), c = rng.Next(1, 7), hw = rng.Next(1, 4), size = rng.Next(1, 6);
            var shape = new Shape(n, c, 1, hw);
            const double alpha = 0.3, beta = 0.75, k = 2;
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)],
                t => Ops.LocalResponseNorm(t[0], size, (float)alpha, (float)beta, (float)k),
                v => v[0].Select((x, i) =>
                {
                    int ch = i / hw % c, nb = i / (c * hw), p = i % hw;
                    double sum = 0;
                    for (int j = ch - size / 2; j <= ch + (size - 1) / 2; j++)
                        if (j >= 0 && j < c) sum += Math.Pow(v[0][(nb * c + j) * hw + p], 2);
                    return x / Math.Pow(k + alpha / size * sum, beta);
                }).ToArray());
        });
}
