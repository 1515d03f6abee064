using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>Unary functions and their derivatives, broadcasting binary ops, and sum-reduction.</summary>
public abstract class ElementwiseTests : BackendFixture
{
    private static readonly UnaryOp[] Differentiable =
        [UnaryOp.Relu, UnaryOp.Tanh, UnaryOp.Sigmoid, UnaryOp.Scale, UnaryOp.AddScalar, UnaryOp.Exp, UnaryOp.Log, UnaryOp.Square, UnaryOp.Abs];

    public sealed record UnaryCase(UnaryOp Op, float Alpha, int Length, int Seed);

    /// <summary>Lengths around the backend's parallel chunk size (2^15) as well as small ones.</summary>
    private static readonly FsCheck.Gen<UnaryCase> UnaryCases =
        from op in Gen.Elements(Differentiable)
        from alpha in Gen.Elements(0.5f, -1.25f, 3f)
        from length in Gen.OneOf(Gen.Choose(1, 100), Gen.Elements(32767, 32768, 32769, 70001))
        from seed in Properties.DataSeed
        select new UnaryCase(op, alpha, length, seed);

    /// <summary>Inputs in the op's domain, kept 0.05 away from the kinks of ReLU and |x|.</summary>
    private static double[] Inputs(UnaryOp op, Random random, int length)
    {
        if (op == UnaryOp.Log) return Numerics.Uniform(random, length, 0.05, 4);
        var x = Numerics.Uniform(random, length, -3, 3);
        for (int i = 0; i < x.Length; i++)
            if (Math.Abs(x[i]) < 0.05) x[i] = x[i] < 0 ? -0.05 : 0.05;
        return x;
    }

    /// <summary>Forward within 1e-5 relative (TensorPrimitives' transcendental approximations are a few ulps).</summary>
    [Test]
    public void UnaryMatchesReference() => Properties.Check(UnaryCases, c =>
    {
        var x = Inputs(c.Op, new Random(c.Seed), c.Length);
        var y = Output(c.Length);
        Backend.Unary(c.Op, c.Alpha, Buffer(x), y, c.Length);
        Numerics.AssertClose(Download(y, c.Length), ElementwiseReference.Unary(c.Op, c.Alpha, x), 1e-5, 1e-6, $"{c.Op} forward {c}");
    }, runs: 40);

    /// <summary>dX = dY * f'(x) with f' from calculus, within 1e-4 relative.</summary>
    [Test]
    public void UnaryBackwardMatchesReference() => Properties.Check(UnaryCases, c =>
    {
        var random = new Random(c.Seed);
        var x = Inputs(c.Op, random, c.Length);
        var dY = Numerics.Uniform(random, c.Length);
        var xBuffer = Buffer(x);
        var y = Output(c.Length);
        Backend.Unary(c.Op, c.Alpha, xBuffer, y, c.Length);
        var dX = Output(c.Length);
        Backend.UnaryBackward(c.Op, c.Alpha, xBuffer, y, Buffer(dY), dX, c.Length);
        var expected = x.Select((v, i) => dY[i] * ElementwiseReference.Derivative(c.Op, c.Alpha, v)).ToArray();
        Numerics.AssertClose(Download(dX, c.Length), expected, 1e-4, 1e-6, $"{c.Op} backward {c}");
    }, runs: 40);

    [Test]
    public void UnaryGradientMatchesFiniteDifferences() => Properties.Check(UnaryCases.Where(c => c.Length <= 100), c =>
    {
        var random = new Random(c.Seed);
        var x = Inputs(c.Op, random, c.Length);
        AssertAutogradMatchesFiniteDifferences($"{c.Op} {c}", random, [(x, [c.Length], true)],
            t => Engine.Ops.Unary(c.Op, t[0], c.Alpha), v => ElementwiseReference.Unary(c.Op, c.Alpha, v[0]));
    }, runs: 60);

    /// <summary>The inverted-dropout mask: u &gt;= p gives 1/(1-p), else 0, exactly.</summary>
    [Test]
    public void DropoutMaskMatchesReference() => Properties.Check(
        from p in Gen.Elements(0f, 0.1f, 0.5f, 0.9f) from length in Gen.Choose(1, 5000) from seed in Properties.DataSeed select (p, length, seed),
        c =>
        {
            var u = Numerics.Uniform(new Random(c.seed), c.length, 0, 1);
            var y = Output(c.length);
            Backend.Unary(UnaryOp.DropoutMask, c.p, Buffer(u), y, c.length);
            Numerics.AssertClose(Download(y, c.length), ElementwiseReference.Unary(UnaryOp.DropoutMask, c.p, u), 1e-7, 0, $"dropout mask {c}");
        }, runs: 10);

    public sealed record BroadcastCase(int[] YShape, int[] AShape, int[] BShape, BinaryOp Op, int Seed)
    {
        public override string ToString() => $"{Op} ({string.Join(',', AShape)}) with ({string.Join(',', BShape)}) -> ({string.Join(',', YShape)}), seed {Seed}";
    }

    /// <summary>A shape that broadcasts to <paramref name="full"/>: some axes set to 1, some leading axes dropped.</summary>
    private static FsCheck.Gen<int[]> Broadcastable(int[] full) =>
        from ones in Gen.ArrayOf(Gen.Elements(false, false, true), full.Length)
        from drop in Gen.Choose(0, full.Length)
        select full.Select((d, i) => ones[i] ? 1 : d).Skip(drop).ToArray();

    private static readonly FsCheck.Gen<int[]> Shapes =
        from rank in Gen.Choose(0, 4)
        from dims in Gen.ArrayOf(Gen.Choose(1, 5), rank)
        from last in Gen.Choose(1, 40)
        select rank == 0 ? dims : [.. dims[..^1], last];

    private static readonly FsCheck.Gen<BroadcastCase> BroadcastCases =
        from y in Shapes
        from a in Broadcastable(y)
        from b in Broadcastable(y)
        from op in Gen.Elements(BinaryOp.Add, BinaryOp.Subtract, BinaryOp.Multiply, BinaryOp.Divide)
        from seed in Properties.DataSeed
        select new BroadcastCase(ElementwiseReference.BroadcastShape(a, b), a, b, op, seed);

    /// <summary>Divisors stay in 0.5..2 in magnitude, so division is well conditioned.</summary>
    private static double[] Operand(Random random, int length, bool divisor)
    {
        var v = Numerics.Uniform(random, length, divisor ? 0.5 : -2, 2);
        if (divisor) for (int i = 0; i < v.Length; i++) v[i] = i % 2 == 0 ? v[i] : -v[i];
        return v;
    }

    [Test]
    public void BinaryMatchesReference() => Properties.Check(BroadcastCases, c =>
    {
        var random = new Random(c.Seed);
        var a = Operand(random, ElementwiseReference.Size(c.AShape), false);
        var b = Operand(random, ElementwiseReference.Size(c.BShape), c.Op == BinaryOp.Divide);
        int size = ElementwiseReference.Size(c.YShape);
        var y = Output(size);
        Backend.Binary(c.Op, Buffer(a), new Shape(c.AShape), Buffer(b), new Shape(c.BShape), y, new Shape(c.YShape));
        var expected = ElementwiseReference.Binary(c.Op, a, c.AShape, b, c.BShape, c.YShape);
        Numerics.AssertClose(Download(y, size), expected, 1e-6, 1e-7, c.ToString());
    }, runs: 150);

    [Test]
    public void BinaryGradientMatchesFiniteDifferences() => Properties.Check(BroadcastCases, c =>
    {
        var random = new Random(c.Seed);
        var a = Operand(random, ElementwiseReference.Size(c.AShape), false);
        var b = Operand(random, ElementwiseReference.Size(c.BShape), c.Op == BinaryOp.Divide);
        AssertAutogradMatchesFiniteDifferences(c.ToString(), random, [(a, c.AShape, true), (b, c.BShape, true)],
            t => Engine.Ops.Binary(c.Op, t[0], t[1]),
            v => ElementwiseReference.Binary(c.Op, v[0], c.AShape, v[1], c.BShape, c.YShape));
    }, runs: 60);

    [Test]
    public void ReduceSumMatchesReference() => Properties.Check(
        from x in Shapes from y in Broadcastable(x) from seed in Properties.DataSeed select (x, y, seed),
        c =>
        {
            var x = Numerics.Uniform(new Random(c.seed), ElementwiseReference.Size(c.x));
            int size = ElementwiseReference.Size(c.y);
            var y = Output(size);
            Backend.ReduceSum(Buffer(x), new Shape(c.x), y, new Shape(c.y));
            var what = $"sum of ({string.Join(',', c.x)}) to ({string.Join(',', c.y)})";
            Numerics.AssertClose(Download(y, size), ElementwiseReference.ReduceSum(x, c.x, c.y), 1e-5, 1e-5, what);
        }, runs: 150);

    /// <summary>SumTo and BroadcastTo are each other's adjoint; their autograd matches finite differences.</summary>
    [Test]
    public void SumToGradientMatchesFiniteDifferences() => Properties.Check(
        from x in Shapes from y in Broadcastable(x) from seed in Properties.DataSeed select (x, y, seed),
        c =>
        {
            var random = new Random(c.seed);
            AssertAutogradMatchesFiniteDifferences($"SumTo ({string.Join(',', c.x)}) -> ({string.Join(',', c.y)})", random,
                [(Numerics.Uniform(random, ElementwiseReference.Size(c.x)), c.x, true)],
                t => Engine.Ops.SumTo(t[0], new Shape(c.y)), v => ElementwiseReference.ReduceSum(v[0], c.x, c.y));
        }, runs: 20);
}
