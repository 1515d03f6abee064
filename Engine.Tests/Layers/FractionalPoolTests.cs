using NUnit.Framework;

namespace Engine.Tests.Layers;

public class FractionalPoolTests
{
    [Test]
    public void FractionalMaxPoolFollowsPyTorchIntervalsAndIsSeeded() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), c = rng.Next(1, 3), h = rng.Next(4, 10), w = rng.Next(4, 10), k = rng.Next(1, 3);
            int oh = rng.Next(1, h - k + 2), ow = rng.Next(1, w - k + 2);
            var shape = new Shape(n, c, h, w);
            ulong key = (ulong)seed;
            var samples = new Generator(key).Uniform(n * c * 2, 0f, 1f);
            static int[] Starts(float u, int size, int outSize, int pool)
            {
                var s = new int[outSize];
                float alpha = outSize > 1 ? (float)(size - pool) / (outSize - 1) : 0;
                for (int i = 0; i < outSize - 1; i++) s[i] = (int)((i + u) * alpha) - (int)(u * alpha);
                s[outSize - 1] = size - pool;
                return s;
            }
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)],
                t => Ops.FractionalMaxPool2d(t[0], k, new Size2(oh, ow), new Generator(key)).Output,
                v =>
                {
                    var y = new List<double>();
                    for (int p = 0; p < n * c; p++)
                    {
                        var rows = Starts(samples[2 * p + 1], h, oh, k);
                        var cols = Starts(samples[2 * p], w, ow, k);
                        foreach (int r in rows)
                            foreach (int q in cols)
                            {
                                double best = double.NegativeInfinity;
                                for (int i = 0; i < k; i++)
                                    for (int j = 0; j < k; j++) best = Math.Max(best, v[0][(p * h + r + i) * w + q + j]);
                                y.Add(best);
                            }
                    }
                    return y.ToArray();
                });
        });

    [Test]
    public void FractionalMaxPoolRejectsAnOutputThatDoesNotFit()
    {
        using var scope = Scope.Begin();
        var x = Tensor.Zeros(GradCheck.Backend, new Shape(1, 1, 5, 5));
        var e = Assert.Throws<ArgumentException>(() => Ops.FractionalMaxPool2d(x, 3, new Size2(4, 4)));
        Assert.That(e!.Message, Does.Contain("needs an input of at least 6x6, got 5x5"));
    }
}
