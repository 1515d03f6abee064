using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>Batched GEMM (every transpose, shared and strided batches, alpha/beta) and the MatMul/Linear ops.</summary>
public abstract class GemmTests : BackendFixture
{
    public sealed record GemmCase(bool TransA, bool TransB, int M, int N, int K, int Batches, bool ShareA, bool ShareB, int Gap, float Alpha, float Beta, int Seed);

    private static readonly FsCheck.Gen<GemmCase> Cases =
        from transA in Gen.Elements(false, true)
        from transB in Gen.Elements(false, true)
        from m in Gen.Choose(1, 24)
        from n in Gen.Choose(1, 24)
        from k in Gen.Choose(1, 40)
        from batches in Gen.Choose(1, 3)
        from shareA in Gen.Elements(false, false, true)
        from shareB in Gen.Elements(false, false, true)
        from gap in Gen.Choose(0, 3)
        from alpha in Gen.Elements(1f, 0.5f, -2f)
        from beta in Gen.Elements(0f, 1f, 0.75f)
        from seed in Properties.DataSeed
        select new GemmCase(transA, transB, m, n, k, batches, shareA, shareB, gap, alpha, beta, seed);

    /// <summary>C = alpha op(A) op(B) + beta C matches the double reference to 1e-4 relative (K &lt;= 40 terms of size &lt;= 1).</summary>
    [Test]
    public void GemmMatchesReference() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        long strideA = c.ShareA ? 0 : c.M * c.K + c.Gap, strideB = c.ShareB ? 0 : c.K * c.N + c.Gap, strideC = c.M * c.N + c.Gap;
        var g = new GemmGeometry(c.TransA, c.TransB, c.M, c.N, c.K, c.Batches, strideA, strideB, strideC);
        var a = Numerics.Uniform(random, (int)((c.Batches - 1) * strideA + c.M * c.K));
        var b = Numerics.Uniform(random, (int)((c.Batches - 1) * strideB + c.K * c.N));
        var cInit = Numerics.Uniform(random, (int)((c.Batches - 1) * strideC + c.M * c.N));
        var expected = GemmReference.Gemm(g, c.Alpha, a, b, c.Beta, cInit);
        var cBuffer = Buffer(cInit);
        if (c.Beta == 0f) Backend.Fill(cBuffer, float.NaN, cInit.Length); // beta = 0 must ignore C, NaN included
        Backend.Gemm(g, c.Alpha, Buffer(a), Buffer(b), c.Beta, cBuffer);
        var actual = Download(cBuffer, cInit.Length);
        if (c.Beta == 0f)
            for (int batch = 0; batch < c.Batches; batch++)
                for (int i = (int)(batch * strideC + c.M * c.N); i < Math.Min(actual.Length, (batch + 1) * strideC); i++)
                    (actual[i], expected[i]) = (0f, 0); // the gaps between C matrices are not C's to write
        Numerics.AssertClose(actual, expected, 1e-4, 1e-4, $"GEMM {g}");
    }, runs: 100);

    public sealed record MatMulCase(int M, int N, int K, bool Bias, int Seed);

    private static readonly FsCheck.Gen<MatMulCase> MatMulCases =
        from m in Gen.Choose(1, 9)
        from n in Gen.Choose(1, 9)
        from k in Gen.Choose(1, 12)
        from bias in Gen.Elements(false, true)
        from seed in Properties.DataSeed
        select new MatMulCase(m, n, k, bias, seed);

    [Test]
    public void MatMulGradientMatchesFiniteDifferences() => Properties.Check(MatMulCases, c =>
    {
        var random = new Random(c.Seed);
        var g = new GemmGeometry(false, false, c.M, c.N, c.K);
        AssertAutogradMatchesFiniteDifferences($"MatMul {c}", random,
            [(Numerics.Uniform(random, c.M * c.K), [c.M, c.K], true), (Numerics.Uniform(random, c.K * c.N), [c.K, c.N], true)],
            t => Engine.Ops.MatMul(t[0], t[1]),
            v => GemmReference.Gemm(g, 1, v[0], v[1], 0, new double[c.M * c.N]));
    }, runs: 40);

    /// <summary>Linear: y = x W^T + b, checked forward and through autograd for x, W and b.</summary>
    [Test]
    public void LinearGradientMatchesFiniteDifferences() => Properties.Check(MatMulCases, c =>
    {
        var random = new Random(c.Seed);
        int batch = c.M, inF = c.K, outF = c.N;
        var g = new GemmGeometry(false, true, batch, outF, inF);
        double[] Forward(double[][] v)
        {
            var y = GemmReference.Gemm(g, 1, v[0], v[1], 0, new double[batch * outF]);
            if (c.Bias) for (int i = 0; i < y.Length; i++) y[i] += v[2][i % outF];
            return y;
        }
        var x = Numerics.Uniform(random, batch * inF);
        var w = Numerics.Uniform(random, outF * inF);
        var b = Numerics.Uniform(random, outF);
        using (Autograd.NoGrad())
        {
            var y = Engine.Ops.Linear(Upload(x, batch, inF), Upload(w, outF, inF), c.Bias ? Upload(b, outF) : null);
            Numerics.AssertClose(y.ToArray(), Forward([x, w, b]), 1e-4, 1e-5, $"Linear forward {c}");
        }
        (double[], int[], bool)[] inputs = c.Bias
            ? [(x, [batch, inF], true), (w, [outF, inF], true), (b, [outF], true)]
            : [(x, [batch, inF], true), (w, [outF, inF], true)];
        AssertAutogradMatchesFiniteDifferences($"Linear {c}", random, inputs,
            t => Engine.Ops.Linear(t[0], t[1], c.Bias ? t[2] : null), v => Forward(c.Bias ? v : [.. v, b]));
    }, runs: 40);
}
