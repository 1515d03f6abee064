using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

// Elementwise, reductions, softmax, NLL, random numbers and optimizer updates.
public partial class CudaAgreementTests
{
    private static readonly UnaryOp[] ExactUnary = [UnaryOp.Relu, UnaryOp.Scale, UnaryOp.AddScalar, UnaryOp.Square, UnaryOp.Abs, UnaryOp.DropoutMask];

    /// <summary>Relative ulp bound: an ulp of y is at most 2^-23 |y|.</summary>
    private static double Ulps(double ulps, float y) => ulps * 2 * U * Math.Abs(y);

    [Test]
    public void UnaryOpsWithExactArithmeticAgreeBitwise()
    {
        var gen = from op in Gen.Elements(ExactUnary) from n in Gen.Choose(1, 2000) from seed in Gen.Choose(0, 100000) select (op, n, seed);
        ForAll(gen, t =>
        {
            var (op, n, seed) = t;
            var x = op == UnaryOp.DropoutMask ? Random(seed, n, 0f, 1f) : Random(seed, n);
            float alpha = op == UnaryOp.DropoutMask ? 0.3f : -1.375f;
            var (cpu, cuda) = Both([x], [n], (b, i, o) => b.Unary(op, alpha, i[0], o[0], n));
            AssertBitwise(cpu[0], cuda[0], $"{op}");
        });
    }

    /// <summary>
    /// exp = ex2.approx (2 ulp) of the rounded product, corrected by its fma residual (1 ulp), vs the CPU's (1 ulp):
    /// 5 ulp. sigmoid = 1/(1+e): e's 5 ulp shrink by e/(1+e), plus the add and the reciprocal: 7 ulp.
    /// tanh = (1-e)/(1+e) with e = exp(-2|x|) &lt;= 1: absolute 5 ulp of 1 plus 3 ulp of y.
    /// log = lg2.approx (2^-22 absolute) times ln 2, plus 2 ulp of y.
    /// </summary>
    [TestCase(UnaryOp.Exp)]
    [TestCase(UnaryOp.Sigmoid)]
    [TestCase(UnaryOp.Tanh)]
    [TestCase(UnaryOp.Log)]
    public void TranscendentalUnaryOpsAgreeWithinTheirInstructionBounds(UnaryOp op)
    {
        ForAll(Gen.Choose(1, 2000).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (n, seed) = t;
            var x = op == UnaryOp.Log ? Random(seed, n, 1e-3f, 50f) : Random(seed, n, -12f, 12f);
            var (cpu, cuda) = Both([x], [n], (b, i, o) => b.Unary(op, 0f, i[0], o[0], n));
            Func<int, double> tolerance = op switch
            {
                UnaryOp.Exp => i => Ulps(5, cpu[0][i]),
                UnaryOp.Sigmoid => i => Ulps(7, cpu[0][i]),
                UnaryOp.Tanh => i => 5 * 2 * U + Ulps(3, cpu[0][i]),
                _ => i => 0.6931471805599453 / (1 << 22) + Ulps(2, cpu[0][i]),
            };
            AssertWithin(cpu[0], cuda[0], tolerance, $"{op}");
        });
    }

    /// <summary>Every derivative is the CPU's expression in the CPU's order of exact operations: bitwise.</summary>
    [Test]
    public void UnaryBackwardAgreesBitwise()
    {
        UnaryOp[] ops = [UnaryOp.Relu, UnaryOp.Tanh, UnaryOp.Sigmoid, UnaryOp.Scale, UnaryOp.AddScalar, UnaryOp.Exp, UnaryOp.Log, UnaryOp.Square, UnaryOp.Abs];
        var gen = from op in Gen.Elements(ops) from n in Gen.Choose(1, 2000) from seed in Gen.Choose(0, 100000) select (op, n, seed);
        ForAll(gen, t =>
        {
            var (op, n, seed) = t;
            float[] x = Integers(seed, n).Zip(Random(seed, n), (a, b) => a == 0 ? 0f : b).ToArray();
            float[] y = Random(seed + 1, n, -1f, 1f), dY = Random(seed + 2, n);
            var (cpu, cuda) = Both([x, y, dY], [n], (b, i, o) => b.UnaryBackward(op, 0.5f, i[0], i[1], i[2], o[0], n));
            AssertBitwise(cpu[0], cuda[0], $"{op} backward");
        });
    }

    private static Gen<(int[] Y, int[] A, int[] B)> BroadcastShapes =>
        from rank in Gen.Choose(1, 4)
        from dims in Gen.Choose(1, 5).ArrayOf(rank)
        from aMask in Gen.Choose(0, (1 << rank) - 1)
        from bMask in Gen.Choose(0, (1 << rank) - 1)
        from aDrop in Gen.Choose(0, rank - 1)
        select (dims,
            dims.Select((d, i) => (aMask >> i & 1) != 0 ? 1 : d).Skip(aDrop).ToArray(),
            dims.Select((d, i) => (bMask >> i & 1) != 0 ? 1 : d).ToArray());

    [Test]
    public void BinaryOpsWithBroadcastingAgreeBitwise()
    {
        var gen = from shapes in BroadcastShapes from op in Gen.Elements(BinaryOp.Add, BinaryOp.Subtract, BinaryOp.Multiply, BinaryOp.Divide)
                  from seed in Gen.Choose(0, 100000) select (shapes, op, seed);
        ForAll(gen, t =>
        {
            var (op, seed) = (t.op, t.seed);
            Shape ys = new(t.shapes.Y), asShape = new(t.shapes.A), bs = new(t.shapes.B);
            var (cpu, cuda) = Both([Random(seed, asShape.Size), Random(seed + 1, bs.Size)], [ys.Size],
                (b, i, o) => b.Binary(op, i[0], asShape, i[1], bs, o[0], ys));
            AssertBitwise(cpu[0], cuda[0], $"{op} {asShape} with {bs} -> {ys}");
        });
    }

    /// <summary>Each output adds its inputs from 0 in increasing index (full reductions: the CPU's 8-partial order): bitwise.</summary>
    [Test]
    public void ReduceSumAgreesBitwise()
    {
        var gen = from shapes in BroadcastShapes from seed in Gen.Choose(0, 100000) select (shapes.Y, shapes.A, seed);
        ForAll(gen, t =>
        {
            Shape xs = new(t.Y), ys = new(t.A);
            var (cpu, cuda) = Both([Random(t.seed, xs.Size)], [ys.Size], (b, i, o) => b.ReduceSum(i[0], xs, o[0], ys));
            AssertBitwise(cpu[0], cuda[0], $"sum {xs} -> {ys}");
        });
    }

    /// <summary>
    /// softmax: each e_i carries exp's 5 ulp, the sum adds one rounding per term: (6 + axis) ulp relative.
    /// log-softmax: x - (max + ln sum) with ln from lg2.approx (2^-22 ln 2 absolute) and the sum's (axis) ulp
    /// relative error passing through ln as absolute: 2^-22 + (axis + 3) ulp of the magnitudes involved.
    /// </summary>
    [Test]
    public void SoftmaxAndLogSoftmaxAgreeWithinTheExpBound()
    {
        var gen = from outer in Gen.Choose(1, 6) from axis in Gen.Choose(1, 12) from inner in Gen.Choose(1, 5)
                  from log in Gen.Elements(false, true) from seed in Gen.Choose(0, 100000) select (outer, axis, inner, log, seed);
        ForAll(gen, t =>
        {
            var g = new SoftmaxGeometry(t.outer, t.axis, t.inner);
            var x = Random(t.seed, g.Size, -6f, 6f);
            var (cpu, cuda) = Both([x], [g.Size], (b, i, o) => b.Softmax(g, t.log, i[0], o[0]));
            Func<int, double> tolerance = t.log
                ? i => 1.0 / (1 << 22) + Ulps(t.axis + 3, Math.Abs(x[i]) + 8f + Math.Abs(cpu[0][i]))
                : i => Ulps(6 + t.axis, cpu[0][i]);
            AssertWithin(cpu[0], cuda[0], tolerance, $"{(t.log ? "log-softmax" : "softmax")} {g}");
        });
    }

    /// <summary>softmax backward is exact arithmetic in the CPU's order (bitwise); log-softmax's exp(y) adds 5 ulp of exp(y)·dot.</summary>
    [Test]
    public void SoftmaxBackwardAgrees()
    {
        var gen = from outer in Gen.Choose(1, 6) from axis in Gen.Choose(1, 12) from inner in Gen.Choose(1, 5)
                  from log in Gen.Elements(false, true) from seed in Gen.Choose(0, 100000) select (outer, axis, inner, log, seed);
        ForAll(gen, t =>
        {
            var g = new SoftmaxGeometry(t.outer, t.axis, t.inner);
            float[] y = t.log ? Random(t.seed, g.Size, -5f, 0f) : Random(t.seed, g.Size, 0f, 1f), dY = Random(t.seed + 1, g.Size);
            var (cpu, cuda) = Both([y, dY], [g.Size], (b, i, o) => b.SoftmaxBackward(g, t.log, i[0], i[1], o[0]));
            if (!t.log)
            {
                AssertBitwise(cpu[0], cuda[0], $"softmax backward {g}");
                return;
            }
            double dotBound = t.axis * 2.0;
            AssertWithin(cpu[0], cuda[0], i => Ulps(5, MathF.Exp(y[i]) * (float)dotBound) + Ulps(2, cpu[0][i]), $"log-softmax backward {g}");
        });
    }

    [Test]
    public void NllLossAndItsBackwardAgreeBitwise()
    {
        var gen = from batch in Gen.Choose(1, 40) from classes in Gen.Choose(1, 12) from seed in Gen.Choose(0, 100000) select (batch, classes, seed);
        ForAll(gen, t =>
        {
            var random = new System.Random(t.seed);
            var targets = Enumerable.Range(0, t.batch).Select(_ => (float)random.Next(t.classes)).ToArray();
            var logProb = Random(t.seed, t.batch * t.classes, -5f, 0f);
            var dLoss = Random(t.seed + 1, t.batch);
            var (cpu, cuda) = Both([logProb, targets, dLoss], [t.batch, t.batch * t.classes], (b, i, o) =>
            {
                b.NllLoss(t.batch, t.classes, i[0], i[1], o[0]);
                b.NllLossBackward(t.batch, t.classes, i[1], i[2], o[1]);
            });
            AssertBitwise(cpu[0], cuda[0], "nll");
            AssertBitwise(cpu[1], cuda[1], "nll backward");
        });
    }

    [Test]
    public void RandomUniformIsBitIdenticalToPhilox()
    {
        var gen = from seed in Gen.Choose(0, int.MaxValue) from offset in Gen.Choose(0, 1 << 20) from n in Gen.Choose(1, 3000) select (seed, offset, n);
        ForAll(gen, t =>
        {
            ulong seed = (ulong)t.seed * 0x9E3779B97F4A7C15UL;
            var (cpu, cuda) = Both([], [t.n], (b, _, o) => b.RandomUniform(seed, (ulong)t.offset, o[0], t.n));
            AssertBitwise(cpu[0], cuda[0], $"philox seed {seed} offset {t.offset}");
        });
    }

    [Test]
    public void SgdAndAdamUpdatesAreBitIdentical()
    {
        var gen = from n in Gen.Choose(1, 1500) from seed in Gen.Choose(0, 100000) from momentum in Gen.Elements(0f, 0.9f)
                  from nesterov in Gen.Elements(false, true) from first in Gen.Elements(false, true) from decay in Gen.Elements(0f, 1e-2f)
                  from decoupled in Gen.Elements(false, true) from step in Gen.Choose(1, 50) select (n, seed, momentum, nesterov, first, decay, decoupled, step);
        ForAll(gen, t =>
        {
            float[] p = Random(t.seed, t.n), grad = Random(t.seed + 1, t.n), m = Random(t.seed + 2, t.n), v = Random(t.seed + 3, t.n, 0f, 1f);
            var sgd = new SgdSettings(0.05f, t.momentum, 0.1f, t.decay, t.nesterov && t.momentum > 0, t.first);
            var adam = new AdamSettings(1e-3f, 0.9f, 0.999f, 1e-8f, t.decay, t.decoupled, t.step);
            var (cpu, cuda) = Both([p, grad, m, v], [t.n, t.n, t.n, t.n, t.n], (b, i, o) =>
            {
                b.Copy(i[0], 0, o[0], 0, t.n);
                b.Copy(i[2], 0, o[1], 0, t.n);
                b.SgdStep(sgd, o[0], i[1], t.momentum > 0 ? o[1] : null, t.n);
                b.Copy(i[0], 0, o[2], 0, t.n);
                b.Copy(i[2], 0, o[3], 0, t.n);
                b.Copy(i[3], 0, o[4], 0, t.n);
                b.AdamStep(adam, o[2], i[1], o[3], o[4], t.n);
            });
            string[] names = ["sgd param", "sgd momentum", "adam param", "adam m", "adam v"];
            for (int k = 0; k < names.Length; k++) AssertBitwise(cpu[k], cuda[k], names[k]);
        });
    }
}
