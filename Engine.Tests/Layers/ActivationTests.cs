using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>Every elementwise op: forward against a double formula, backward against finite differences.</summary>
public class ActivationTests
{
    private const double SeluAlpha = 1.6732632423543772848170429916717, SeluScale = 1.0507009873554804934193349852946;

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
    private static double Softplus(double x, double beta) => beta * x > 20 ? x : Math.Log(1 + Math.Exp(beta * x)) / beta;

    /// <summary>erf by Simpson's rule on 2/sqrt(pi) exp(-t^2) (independent of the engine's series).</summary>
    private static double Erf(double x)
    {
        const int n = 2000;
        double h = x / n, sum = 1 + Math.Exp(-x * x);
        for (int i = 1; i < n; i++) sum += (i % 2 == 1 ? 4 : 2) * Math.Exp(-(i * h) * (i * h));
        return 2 / Math.Sqrt(Math.PI) * sum * h / 3;
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData C(UnaryOp op, float alpha, Func<double, double> f, double low = -4, double high = 4) =>
            new TestCaseData(op, alpha, f, low, high).SetName($"{op}({alpha})");
        yield return C(UnaryOp.Relu, 0, x => Math.Max(x, 0));
        yield return C(UnaryOp.Tanh, 0, Math.Tanh);
        yield return C(UnaryOp.Sigmoid, 0, Sigmoid);
        yield return C(UnaryOp.Scale, 1.7f, x => 1.7 * x);
        yield return C(UnaryOp.AddScalar, -0.3f, x => x - 0.3);
        yield return C(UnaryOp.Exp, 0, Math.Exp, -3, 3);
        yield return C(UnaryOp.Log, 0, Math.Log, 0.2, 4);
        yield return C(UnaryOp.Square, 0, x => x * x);
        yield return C(UnaryOp.Abs, 0, Math.Abs);
        yield return C(UnaryOp.LeakyRelu, 0.1f, x => x > 0 ? x : 0.1 * x);
        yield return C(UnaryOp.Elu, 1.3f, x => x > 0 ? x : 1.3 * (Math.Exp(x) - 1));
        yield return C(UnaryOp.Selu, 0, x => SeluScale * (x > 0 ? x : SeluAlpha * (Math.Exp(x) - 1)));
        yield return C(UnaryOp.Gelu, 0, x => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))));
        yield return C(UnaryOp.GeluTanh, 0, x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));
        yield return C(UnaryOp.Silu, 0, x => x * Sigmoid(x));
        yield return C(UnaryOp.Hardswish, 0, x => x * Math.Min(Math.Max(x + 3, 0), 6) / 6, -5, 5);
        yield return C(UnaryOp.Hardsigmoid, 0, x => Math.Min(Math.Max(x + 3, 0), 6) / 6, -5, 5);
        yield return C(UnaryOp.Mish, 0, x => x * Math.Tanh(Softplus(x, 1)));
        yield return C(UnaryOp.Softplus, 2f, x => Softplus(x, 2), -12, 12);
        yield return C(UnaryOp.Relu6, 0, x => Math.Min(Math.Max(x, 0), 6), -2, 8);
        yield return C(UnaryOp.Pow, 2.5f, x => Math.Pow(x, 2.5), 0.2, 3);
        yield return C(UnaryOp.Sqrt, 0, Math.Sqrt, 0.2, 4);
        yield return C(UnaryOp.Rsqrt, 0, x => 1 / Math.Sqrt(x), 0.2, 4);
        yield return C(UnaryOp.SmoothL1, 0.7f, x => Math.Abs(x) < 0.7 ? 0.5 * x * x / 0.7 : Math.Abs(x) - 0.35, -2, 2);
        yield return C(UnaryOp.Erf, 0, Erf, -3.5, 3.5);
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesReferenceAndFiniteDifferences(UnaryOp op, float alpha, Func<double, double> f, double low, double high) =>
        GradCheck.ForAllSeeds(8, seed =>
        {
            var rng = new Random(seed);
            var shape = new Shape(rng.Next(1, 5), rng.Next(1, 40));
            var x = GradCheck.Random(rng, shape.Size, low, high);
            GradCheck.Check(rng, [(x, shape)], t => Ops.Unary(op, t[0], alpha), v => v[0].Select(f).ToArray(), tolerance: 2e-3);
        });

    [Test]
    public void ErfIsAccurateToFloatPrecision()
    {
        for (double x = -5; x <= 5; x += 0.01)
            Assert.That(UnaryMath.Erf((float)x), Is.EqualTo(Erf((float)x)).Within(2e-7), $"erf({x})");
    }

    [Test]
    public void PReluPerChannelMatchesReference() =>
        GradCheck.ForAllSeeds(8, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), c = rng.Next(1, 5), hw = rng.Next(1, 10);
            var shape = new Shape(n, c, hw);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape), (GradCheck.Random(rng, c), new Shape(c))],
                t => Ops.PRelu(t[0], t[1]),
                v => v[0].Select((x, i) => x > 0 ? x : v[1][i / hw % c] * x).ToArray());
        });
}
