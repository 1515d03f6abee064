using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

// The unary ops from LeakyRelu on (kernels/activations.ptx) against the CPU's UnaryMath definitions.
public partial class CudaAgreementTests
{
    /// <summary>Branch points, signed zeros and NaN, mixed into random values.</summary>
    private static readonly float[] ActivationSpecials = [-3f, 3f, 0f, -0f, 6f, -6f, 0.75f, -0.75f, 20f, float.NaN];

    private static float[] ActivationInputs(int seed, int n, float low, float high)
    {
        var x = Random(seed, n, low, high);
        for (int i = 0; i < n; i += 7) x[i] = ActivationSpecials[i / 7 % ActivationSpecials.Length];
        return x;
    }

    private (float[] Cpu, float[] Cuda) UnaryBoth(UnaryOp op, float alpha, float[] x)
    {
        var (cpu, cuda) = Both([x], [x.Length], (b, i, o) => b.Unary(op, alpha, i[0], o[0], x.Length));
        return (cpu[0], cuda[0]);
    }

    /// <summary>dX on both backends from the same x, the CPU's forward y and dY.</summary>
    private (float[] Cpu, float[] Cuda) UnaryBackwardBoth(UnaryOp op, float alpha, float[] x, float[] dY)
    {
        var y = UnaryBoth(op, alpha, x).Cpu;
        var (cpu, cuda) = Both([x, y, dY], [x.Length], (b, i, o) => b.UnaryBackward(op, alpha, i[0], i[1], i[2], o[0], x.Length));
        return (cpu[0], cuda[0]);
    }

    /// <summary>Comparisons, selects and correctly rounded +, *, /, sqrt in the CPU's order: forward bitwise.</summary>
    [TestCase(UnaryOp.LeakyRelu)]
    [TestCase(UnaryOp.Hardswish)]
    [TestCase(UnaryOp.Hardsigmoid)]
    [TestCase(UnaryOp.Relu6)]
    [TestCase(UnaryOp.Sqrt)]
    [TestCase(UnaryOp.Rsqrt)]
    [TestCase(UnaryOp.SmoothL1)]
    public void ExactActivationsAgreeBitwise(UnaryOp op)
    {
        ForAll(Gen.Choose(1, 1500).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (n, seed) = t;
            var x = ActivationInputs(seed, n, -8f, 8f);
            var (cpu, cuda) = UnaryBoth(op, 0.75f, x);
            AssertBitwise(cpu, cuda, $"{op}");
        });
    }

    /// <summary>Derivatives that use only x, y and exact operations (Elu's is y + alpha): bitwise.</summary>
    [TestCase(UnaryOp.LeakyRelu)]
    [TestCase(UnaryOp.Elu)]
    [TestCase(UnaryOp.Hardswish)]
    [TestCase(UnaryOp.Hardsigmoid)]
    [TestCase(UnaryOp.Relu6)]
    [TestCase(UnaryOp.Sqrt)]
    [TestCase(UnaryOp.Rsqrt)]
    [TestCase(UnaryOp.SmoothL1)]
    public void ExactActivationDerivativesAgreeBitwise(UnaryOp op)
    {
        ForAll(Gen.Choose(1, 1500).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (n, seed) = t;
            var x = ActivationInputs(seed, n, -8f, 8f);
            var (cpu, cuda) = UnaryBackwardBoth(op, 0.75f, x, Random(seed + 1, n));
            AssertBitwise(cpu, cuda, $"{op} backward");
        });
    }

    /// <summary>
    /// Bounds (u = 2^-24, plus 16 subnormal ulps absolute; "k ulp of v" = 2k u |v|): exp carries 5 ulp (see the transcendental test), tanh 10 u
    /// absolute + 3 ulp, ln lg2.approx's 2^-22 ln 2 absolute; erf is the series (8 ulp) below |v| = 0.5, else
    /// Abramowitz-Stegun's 1.5e-7 plus 16 ulp of 1 from its float evaluation. Elu/Selu: the exp error scaled by
    /// the factor in front, + 2-3 ulp. Silu: sigmoid's 7 ulp + the division. Softplus: ln's absolute error plus the
    /// 12 u relative error of 1 + e, divided by alpha. Mish: n/(n+2) (16 ulp) vs the CPU's ln(1+e) that rounds
    /// 1 + e (|x| 4 u absolute). Gelu/GeluTanh: half |x| times erf's/tanh's absolute bound + 3 ulp.
    /// </summary>
    [TestCase(UnaryOp.Elu)]
    [TestCase(UnaryOp.Selu)]
    [TestCase(UnaryOp.Gelu)]
    [TestCase(UnaryOp.GeluTanh)]
    [TestCase(UnaryOp.Silu)]
    [TestCase(UnaryOp.Mish)]
    [TestCase(UnaryOp.Softplus)]
    [TestCase(UnaryOp.Erf)]
    public void TranscendentalActivationsAgreeWithinTheirInstructionBounds(UnaryOp op)
    {
        const float alpha = 1.5f;
        ForAll(Gen.Choose(1, 1500).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (n, seed) = t;
            var x = ActivationInputs(seed, n, -9f, 24f);
            var (cpu, cuda) = UnaryBoth(op, alpha, x);
            var numbers = Enumerable.Range(0, n).Where(i => !float.IsNaN(x[i])).ToArray();
            AssertWithin(numbers.Select(i => cpu[i]).ToArray(), numbers.Select(i => cuda[i]).ToArray(),
                k => ForwardTolerance(op, alpha, x[numbers[k]], cpu[numbers[k]]) + Subnormal, $"{op}");
            Assert.That(cuda.Where((_, i) => float.IsNaN(x[i])), Is.All.NaN, $"{op} of NaN");
        });
    }

    /// <summary>
    /// The derivatives carry their functions' bounds through UnaryMath.Derivative's expression, term by term
    /// (the same exp/erf/tanh bounds as the forward test), plus 1-2 ulp for the last roundings and the product with dY.
    /// </summary>
    [TestCase(UnaryOp.Selu)]
    [TestCase(UnaryOp.Gelu)]
    [TestCase(UnaryOp.GeluTanh)]
    [TestCase(UnaryOp.Silu)]
    [TestCase(UnaryOp.Mish)]
    [TestCase(UnaryOp.Softplus)]
    [TestCase(UnaryOp.Erf)]
    public void TranscendentalActivationDerivativesAgreeWithinTheirInstructionBounds(UnaryOp op)
    {
        const float alpha = 1.5f;
        ForAll(Gen.Choose(1, 1500).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (n, seed) = t;
            var x = Random(seed, n, -9f, 24f);
            var dY = Random(seed + 1, n);
            var (cpu, cuda) = UnaryBackwardBoth(op, alpha, x, dY);
            AssertWithin(cpu, cuda, i => Math.Abs(dY[i]) * DerivativeTolerance(op, alpha, x[i]) + Ulps(2, cpu[i]) + Subnormal, $"{op} backward");
        });
    }

    /// <summary>Below 2^-126 an ulp is the absolute 2^-149: exp's few roundings there (scaled by at most 2 from dY).</summary>
    private const double Subnormal = 16 * (double)float.Epsilon;

    private const double SqrtTwoOverPi = 0.79788456080286535588, GeluC = 0.044715, SeluA = 1.6732632423543772, SeluS = 1.0507009873554805;

    private static double ErfTolerance(double v) => Math.Abs(v) < 0.5 ? Ulps(8, (float)UnaryMath.Erf(v)) : 1.5e-7 + 32 * U;

    private static double TanhTolerance(double v) => 10 * U + 6 * U * Math.Abs(Math.Tanh(v));

    private static double ForwardTolerance(UnaryOp op, float alpha, double x, float y)
    {
        double e = Math.Exp(x);
        return op switch
        {
            UnaryOp.Elu => x > 0 ? 0 : alpha * 10 * U * e + Ulps(2, y),
            UnaryOp.Selu => x > 0 ? 0 : SeluS * SeluA * 10 * U * e + Ulps(3, y),
            UnaryOp.Gelu => 0.5 * Math.Abs(x) * ErfTolerance(x * Math.Sqrt(0.5)) + Ulps(3, y),
            UnaryOp.GeluTanh => 0.5 * Math.Abs(x) * TanhTolerance(SqrtTwoOverPi * (x + GeluC * x * x * x)) + Ulps(3, y),
            UnaryOp.Silu => Ulps(8, y),
            UnaryOp.Mish => 4 * U * Math.Abs(x) + Ulps(17, y),
            UnaryOp.Softplus => (0.6931471805599453 / (1 << 22) + 12 * U) / alpha + Ulps(2, y),
            _ => ErfTolerance(x),
        };
    }

    /// <summary>Absolute bound on f'(x) (before the product with dY).</summary>
    private static double DerivativeTolerance(UnaryOp op, float alpha, double x)
    {
        double s = 1 / (1 + Math.Exp(-x));
        switch (op)
        {
            case UnaryOp.Selu: return x > 0 ? 0 : SeluS * SeluA * Math.Exp(x) * 14 * U;
            case UnaryOp.Erf: return 1.1283791670955126 * Math.Exp(-x * x) * 14 * U;
            case UnaryOp.Softplus: return 1 / (1 + Math.Exp(-alpha * x)) * 16 * U;
            case UnaryOp.Silu:
            {
                double q = 1 + x * (1 - s);
                return 2 * U * s * (9 * Math.Abs(q) + 7 * Math.Abs(x) * s + 2 * Math.Abs(x * (1 - s)));
            }
            case UnaryOp.Gelu:
            {
                double z = x * Math.Sqrt(0.5), second = Math.Abs(x) * 0.3989422804014327 * Math.Exp(-0.5 * x * x);
                return 0.5 * ErfTolerance(z) + 16 * U * second + 4 * U * (0.5 * (1 + UnaryMath.Erf(z)) + second);
            }
            case UnaryOp.GeluTanh:
            {
                double v = SqrtTwoOverPi * (x + GeluC * x * x * x), t = Math.Tanh(v), T = TanhTolerance(v);
                double slope = 0.5 * Math.Abs(x) * SqrtTwoOverPi * (1 + 3 * GeluC * x * x);
                return 0.5 * T + slope * 2 * Math.Abs(t) * T + 8 * U * (0.5 * (1 + t) + slope * (1 - t * t));
            }
            default:
            {
                // Mish: t = tanh(softplus x) with the forward's bound, s = sigmoid(x) with 7 ulp.
                double t = Math.Tanh(Math.Log(1 + Math.Exp(x))), T = 4 * U + 32 * U * Math.Abs(t);
                return T + Math.Abs(x) * (2 * Math.Abs(t) * T * s + (1 - t * t) * 14 * U * s) + 8 * U * (Math.Abs(t) + Math.Abs(x * (1 - t * t) * s));
            }
        }
    }
}
