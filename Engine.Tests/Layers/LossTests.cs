using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>The losses of the layers issue against PyTorch's formulas in double precision.</summary>
public class LossTests
{
    private static double[] LogSoftmaxRow(double[] x, int row, int classes)
    {
        var r = x.Skip(row * classes).Take(classes).ToArray();
        double max = r.Max(), lse = max + Math.Log(r.Sum(v => Math.Exp(v - max)));
        return r.Select(v => v - lse).ToArray();
    }

    [TestCase(Reduction.Mean, 0f, false)]
    [TestCase(Reduction.Mean, 0.1f, true)]
    [TestCase(Reduction.Sum, 0.2f, true)]
    [TestCase(Reduction.None, 0.3f, false)]
    [TestCase(Reduction.Mean, 0.25f, false)]
    public void CrossEntropyWithWeightsAndSmoothingMatchesPyTorch(Reduction reduction, float smoothing, bool weighted) =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 5), classes = rng.Next(2, 6);
            var targets = Enumerable.Range(0, n).Select(_ => (float)rng.Next(classes)).ToArray();
            var weights = weighted ? GradCheck.Random(rng, classes, 0.2, 2) : null;
            var shape = new Shape(n, classes);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size, -3, 3), shape)],
                t => Ops.CrossEntropy(t[0], Tensor.FromArray(GradCheck.Backend, targets, new Shape(n)), weights, smoothing, reduction),
                v =>
                {
                    var perSample = new double[n];
                    double weightSum = 0;
                    for (int i = 0; i < n; i++)
                    {
                        var lp = LogSoftmaxRow(v[0], i, classes);
                        int t = (int)targets[i];
                        double wt = weights?[t] ?? 1;
                        weightSum += wt;
                        double smooth = -Enumerable.Range(0, classes).Sum(c => (weights?[c] ?? 1) * lp[c]) / classes;
                        perSample[i] = (1 - smoothing) * -wt * lp[t] + smoothing * smooth;
                    }
                    return reduction switch
                    {
                        Reduction.Mean => [perSample.Sum() / weightSum],
                        Reduction.Sum => [perSample.Sum()],
                        _ => perSample,
                    };
                });
        });

    [Test]
    public void BceWithLogitsIsStableAndMatchesDefinition() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            var shape = new Shape(rng.Next(1, 4), rng.Next(1, 6));
            var target = GradCheck.Random(rng, shape.Size, 0, 1);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size, -30, 30), shape)],
                t => Ops.BceWithLogits(t[0], Tensor.FromArray(GradCheck.Backend, target, shape)),
                v => [v[0].Select((x, i) => -(target[i] * Math.Log(1 / (1 + Math.Exp(-x)) + 1e-300) + (1 - target[i]) * Math.Log(1 / (1 + Math.Exp(x)) + 1e-300))).Average()]);
        });

    [Test]
    public void RegressionLossesMatchDefinitions() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            var shape = new Shape(rng.Next(1, 4), rng.Next(1, 6));
            var a = (GradCheck.Random(rng, shape.Size, -2, 2), shape);
            var b = (GradCheck.Random(rng, shape.Size, -2, 2), shape);
            GradCheck.Check(rng, [a, b], t => Ops.L1Loss(t[0], t[1]), v => [v[0].Select((x, i) => Math.Abs(x - v[1][i])).Average()]);
            GradCheck.Check(rng, [a, b], t => Ops.MseLoss(t[0], t[1], Reduction.Sum), v => [v[0].Select((x, i) => (x - v[1][i]) * (x - v[1][i])).Sum()]);
            GradCheck.Check(rng, [a, b], t => Ops.SmoothL1Loss(t[0], t[1], 0.5f), v => [v[0].Select((x, i) =>
            {
                double d = Math.Abs(x - v[1][i]);
                return d < 0.5 ? 0.5 * d * d / 0.5 : d - 0.25;
            }).Average()]);
        });

    [Test]
    public void DiceLossMatchesDefinition() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            var shape = new Shape(rng.Next(1, 4), rng.Next(1, 6));
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size, 0, 1), shape), (GradCheck.Random(rng, shape.Size, 0, 1), shape)],
                t => Ops.DiceLoss(t[0], t[1]),
                v => [1 - (2 * v[0].Select((p, i) => p * v[1][i]).Sum() + 1) / (v[0].Sum() + v[1].Sum() + 1)]);
        });

    [Test]
    public void CrossEntropyRejectsTargetsOutsideTheClasses()
    {
        using var scope = Scope.Begin();
        var logits = Tensor.Zeros(GradCheck.Backend, new Shape(2, 3));
        var e = Assert.Throws<ArgumentException>(() => Ops.CrossEntropy(logits, Tensor.FromArray(GradCheck.Backend, [0, 3], new Shape(2))));
        Assert.That(e!.Message, Does.Contain("target 1 is 3").And.Contain("[0, 3)"));
    }
}
