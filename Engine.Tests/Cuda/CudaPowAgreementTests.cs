using Engine.Nn;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

// UnaryOp.Pow (kernels/pow.ptx) against the CPU's MathF.Pow, and the layers built on it (LocalResponseNorm, LPPool2d).
public partial class CudaAgreementTests
{
    /// <summary>
    /// Relative error bound of pow.ptx's x^e (see the file's header): lg2.approx's 2^-22 absolute plus the rounding
    /// of |lg2 m| &lt;= 1/2 (2^-26), times |e|, is the error d in the exponent t, so a factor 2^d - 1 (about d ln 2
    /// when small; e = 2^24 near x = 1 makes d = 4); then ex2.approx's 2 ulp (4u), the fma's half ulp (u) and the
    /// CPU's own MathF.Pow (below 1 ulp, 2u): 7u, rounded up to 8u. An infinite or NaN exponent leaves only the
    /// special cases, exact (1, 0, inf, NaN).
    /// </summary>
    private static double PowRelative(double e) => !double.IsFinite(e) ? 0 : Math.Pow(2, Math.Abs(e) * (1.0 / (1 << 22) + 1.0 / (1 << 26))) * (1 + 8 * U) - 1;

    /// <summary>Bases that exercise every special case of C's powf, and exponents: zeros, integers odd and even (below and at 2^24), fractions, infinities, NaN.</summary>
    private static readonly float[] PowBases =
    [
        0f, -0f, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 2f, -2f, 0.5f, -0.5f, 3f, -3f,
        1e-40f, -1e-40f, float.Epsilon, -float.Epsilon, 1e30f, -1e30f, 1.0000001f, 0.99999994f, 7.5f, -7.5f,
    ];

    private static readonly float[] PowExponents =
    [
        0f, -0f, 1f, -1f, 2f, -2f, 3f, -3f, 0.5f, -0.5f, 0.75f, 1f / 3, 2.5f, -2.5f, 16777215f, 16777216f, 33554432f,
        float.PositiveInfinity, float.NegativeInfinity, float.NaN,
    ];

    /// <summary>x^e within PowRelative(e) of the CPU (plus 16 subnormal ulps absolute), NaN, infinities and zeros (with their signs) exactly where the CPU has them.</summary>
    private static void AssertPowAgrees(float[] cpu, float[] cuda, Func<int, double> tolerance, Func<int, string> what)
    {
        for (int i = 0; i < cpu.Length; i++)
        {
            float expected = cpu[i], actual = cuda[i];
            if (float.IsNaN(expected) || float.IsInfinity(expected) || expected == 0f)
            {
                bool same = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual);
                if (!same) Assert.Fail($"{what(i)}: expected {expected:R} (CPU), got {actual:R} (CUDA)");
                continue;
            }
            double error = Math.Abs((double)expected - actual);
            if (!(error <= tolerance(i)))
                Assert.Fail($"{what(i)}: expected {expected:R} (CPU), got {actual:R} (CUDA), error {error:G3} > tolerance {tolerance(i):G3}");
        }
    }

    [Test]
    public void PowSpecialCasesAreThoseOfMathFPow()
    {
        foreach (float e in PowExponents)
        {
            var x = PowBases;
            var (cpu, cuda) = UnaryBoth(UnaryOp.Pow, e, x);
            // 1e30^3 and the like overflow on both; results within a few ulp of float.MaxValue are not among these.
            AssertPowAgrees(cpu, cuda, i => PowRelative(e) * Math.Abs(cpu[i]) + Subnormal, i => $"pow({x[i]:R}, {e:R})");
        }
    }

    [Test]
    public void PowAgreesWithinItsInstructionBound()
    {
        var exponent = Gen.Elements(2f, 3f, -1f, -2f, 0.5f, 0.75f, -0.75f, 1.5f, 1f / 3, 4f, 1f)
            .Or(Gen.Choose(-4000, 4000).Select(k => k / 1000f));
        var gen = from n in Gen.Choose(1, 1500) from seed in Gen.Choose(0, 100000) from e in exponent select (n, seed, e);
        ForAll(gen, t =>
        {
            var (n, seed, e) = t;
            var x = ActivationInputs(seed, n, -8f, 8f);
            // a spread of magnitudes: every third value scaled by 2^j, j in -40..40
            var random = new System.Random(seed);
            for (int i = 1; i < n; i += 3) x[i] *= MathF.ScaleB(1f, random.Next(-40, 41));
            var (cpu, cuda) = UnaryBoth(UnaryOp.Pow, e, x);
            AssertPowAgrees(cpu, cuda, i => PowRelative(e) * Math.Abs(cpu[i]) + Subnormal, i => $"pow({x[i]:R}, {e:R})");
        });
    }

    /// <summary>dX = dY (alpha x^(alpha-1)): the power's bound for alpha - 1, plus an ulp for each of the two products.</summary>
    [Test]
    public void PowDerivativeAgreesWithinItsInstructionBound()
    {
        var gen = from n in Gen.Choose(1, 1500)
                  from seed in Gen.Choose(0, 100000)
                  from alpha in Gen.Elements(2f, 3f, -1f, 0.5f, 0.75f, 1.5f, 1f / 3, 1f, 0f)
                  select (n, seed, alpha);
        ForAll(gen, t =>
        {
            var (n, seed, alpha) = t;
            var x = ActivationInputs(seed, n, -8f, 8f);
            var (cpu, cuda) = UnaryBackwardBoth(UnaryOp.Pow, alpha, x, Random(seed + 1, n));
            AssertPowAgrees(cpu, cuda, i => (PowRelative(alpha - 1f) + 4 * U) * Math.Abs(cpu[i]) + Subnormal, i => $"pow'({x[i]:R}, {alpha:R})");
        });
    }

    /// <summary>
    /// LPPool2d (x^p summed over 2x2 windows, then the 1/p-th power) on positive inputs: relative bound
    /// (PowRelative(p) + 4u (each backend's window sum)) / p + PowRelative(1/p). Its input gradient
    /// (1/p) S^(1/p-1) p x^(p-1) dY: |1/p - 1| times the sum's bound, plus the two powers' and 6u for the products.
    /// </summary>
    [TestCase(2f)]
    [TestCase(3f)]
    public void LPPool2dRunsAndAgrees(float p)
    {
        var layer = new LPPool2d(p, 2);
        var shape = new Shape(2, 3, 6, 5);
        var x = Random(7, shape.Size, 0.1f, 2f);
        var (cpuY, cpuDx) = LayerForwardBackward(_cpu, layer, x, shape);
        var (cudaY, cudaDx) = LayerForwardBackward(_cuda, layer, x, shape);
        double sum = PowRelative(p) + 4 * U;
        AssertWithin(cpuY, cudaY, i => (sum / p + PowRelative(1 / p)) * Math.Abs(cpuY[i]), $"LPPool2d(p={p}) forward");
        double gradient = Math.Abs(1 / p - 1) * sum + PowRelative(1 / p - 1) + PowRelative(p - 1) + 6 * U;
        AssertWithin(cpuDx, cudaDx, i => gradient * Math.Abs(cpuDx[i]) + Subnormal, $"LPPool2d(p={p}) input gradient");
    }

    /// <summary>
    /// LocalResponseNorm: y = x / D^beta, D = k + alpha mean(x^2). D's relative error is (size + 3) u per backend, so
    /// y's is beta 2 (size + 3) u + PowRelative(beta) + 2u. The input gradient
    /// dY/D^beta - (2 alpha beta / size) x sum_j dY_j x_j D_j^(-beta-1) may cancel, so its bound is relative to the
    /// terms' magnitudes: that of D^(-beta-1) ((beta + 1) 2 (size + 3) u + PowRelative(beta + 1)) plus 8u of roundings.
    /// </summary>
    [Test]
    public void LocalResponseNormRunsAndAgrees()
    {
        const int size = 3;
        const float alpha = 0.5f, beta = 0.75f, k = 1f;
        var layer = new LocalResponseNorm(size, alpha, beta, k);
        var shape = new Shape(2, 5, 3, 4);
        var x = Random(11, shape.Size);
        var (cpuY, cpuDx) = LayerForwardBackward(_cpu, layer, x, shape);
        var (cudaY, cudaDx) = LayerForwardBackward(_cuda, layer, x, shape);
        double d = 2 * (size + 3) * U;
        AssertWithin(cpuY, cudaY, i => (beta * d + PowRelative(beta) + 2 * U) * Math.Abs(cpuY[i]) + Subnormal, "LocalResponseNorm forward");
        var magnitude = LrnGradientMagnitude(x, shape, size, alpha, beta, k);
        double relative = (beta + 1) * d + PowRelative(beta + 1) + 8 * U;
        AssertWithin(cpuDx, cudaDx, i => relative * magnitude[i] + Subnormal, "LocalResponseNorm input gradient");
    }

    /// <summary>|dY_i| / D_i^beta + (2 alpha beta / size) |x_i| sum over the window of |dY_j x_j| D_j^(-beta-1), with dY = LayerDy.</summary>
    private static double[] LrnGradientMagnitude(float[] x, Shape shape, int size, float alpha, float beta, float k)
    {
        int c = shape.Channels, hw = shape.Height * shape.Width;
        var dY = LayerDy(x.Length);
        var denominator = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int channel = i / hw % c, plane = i - channel * hw;
            double squares = 0;
            for (int j = channel - size / 2; j <= channel + (size - 1) / 2; j++)
                if (j >= 0 && j < c) squares += (double)x[plane + j * hw] * x[plane + j * hw];
            denominator[i] = k + alpha * squares / size;
        }
        var magnitude = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int channel = i / hw % c, plane = i - channel * hw;
            double cross = 0;
            // x_i enters the denominators of the channels whose window holds it
            for (int j = channel - (size - 1) / 2; j <= channel + size / 2; j++)
                if (j >= 0 && j < c) cross += Math.Abs(dY[plane + j * hw] * x[plane + j * hw]) * Math.Pow(denominator[plane + j * hw], -beta - 1);
            magnitude[i] = Math.Abs(dY[i]) / Math.Pow(denominator[i], beta) + 2 * alpha * beta / size * Math.Abs(x[i]) * cross;
        }
        return magnitude;
    }

    /// <summary>The upstream gradient of the layer tests: fixed pseudo-random values.</summary>
    private static float[] LayerDy(int count) => Random(5, count);

    /// <summary>y = layer(x) and dL/dx for L = sum(y * LayerDy), on one backend.</summary>
    private static (float[] Y, float[] DInput) LayerForwardBackward(IBackend backend, Module layer, float[] x, Shape shape)
    {
        using var scope = Scope.Begin();
        var input = Tensor.FromArray(backend, x, shape);
        input.RequiresGrad = true;
        var y = layer.Forward(input);
        var dY = Tensor.FromArray(backend, LayerDy(y.Shape.Size), y.Shape);
        Ops.Sum(Ops.Multiply(y, dY)).Backward();
        return (y.ToArray(), input.Grad!.ToArray());
    }
}
