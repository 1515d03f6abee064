using Engine.Cpu;
using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>
/// The CPU backend's vector fast paths against the scalar forms they replace and the references: max pooling by
/// masked gathers (bit for bit the scalar loop, NaN and ties included, and the reference's values and indices),
/// the ReLU gradient, the ordered sum, per-channel reductions and broadcasts (the shapes batch norm produces).
/// </summary>
[TestFixture]
public sealed class VectorPathTests
{
    private readonly CpuBackend _backend = new(2);

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    private static readonly FsCheck.Gen<(int Kernel, int Stride, int Dilation, int Before, int After, int Size)> Axis =
        from kernel in Gen.Choose(1, 4)
        from stride in Gen.Choose(1, 3)
        from dilation in Gen.Elements(1, 1, 2)
        let half = (dilation * (kernel - 1) + 1) / 2
        from before in Gen.Choose(0, half)
        from after in Gen.Choose(0, half)
        from size in Gen.Choose(1, 40)
        select (kernel, stride, dilation, before, after, Math.Max(size, dilation * (kernel - 1) + 1 - before - after));

    /// <summary>Planes up to 40 wide (outputs past one vector per row and past the plane end), any window.</summary>
    private static readonly FsCheck.Gen<(Pool2dGeometry Geometry, int Values, int Seed)> PoolCases =
        from batch in Gen.Choose(1, 2)
        from channels in Gen.Choose(1, 3)
        from rows in Axis
        from cols in Axis
        from ceil in Gen.Elements(false, true)
        from values in Gen.Elements(0, 3, 1000) // 0: distinct values; else values drawn from this many (ties)
        from seed in Properties.DataSeed
        select (new Pool2dGeometry(batch, channels, rows.Size, cols.Size, new Size2(rows.Kernel, cols.Kernel),
            new Size2(rows.Stride, cols.Stride), new Padding2d(rows.Before, cols.Before, rows.After, cols.After),
            new Size2(rows.Dilation, cols.Dilation), ceil), values, seed);

    /// <summary>Max pooling of x on <paramref name="backend"/>, forced to the scalar loop when asked: (maxima, indices).</summary>
    internal static (float[] Y, float[] Indices) MaxPool(CpuBackend backend, Pool2dGeometry g, float[] x, bool scalar)
    {
        int outLength = g.Batch * g.Channels * g.OutHeight * g.OutWidth;
        var xb = backend.Allocate(x.Length);
        var y = backend.Allocate(outLength);
        var indices = backend.Allocate(outLength);
        backend.Upload(x, xb);
        CpuBackend.ForceScalarMaxPool = scalar;
        try
        {
            backend.MaxPool2d(g, xb, y, indices);
        }
        finally
        {
            CpuBackend.ForceScalarMaxPool = false;
        }
        var result = (new float[outLength], new float[outLength]);
        backend.Download(y, result.Item1);
        backend.Download(indices, result.Item2);
        return result;
    }

    internal static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Test]
    public void MaxPoolGatherPathIsTheScalarLoopBitForBit() => Properties.Check(PoolCases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        int length = g.Batch * g.Channels * g.InHeight * g.InWidth;
        var x = c.Values == 0
            ? Numerics.DistinctShuffled(random, length).Select(v => (float)v).ToArray()
            : Enumerable.Range(0, length).Select(_ => (float)random.Next(c.Values)).ToArray();
        // a few NaNs (the last NaN of a window wins) and infinities in a third of the cases
        if (c.Seed % 3 == 0)
            for (int i = 0; i < 1 + length / 50; i++)
                x[random.Next(length)] = random.Next(3) switch { 0 => float.NaN, 1 => float.NegativeInfinity, _ => float.PositiveInfinity };
        var (vectorY, vectorIndices) = MaxPool(_backend, g, x, scalar: false);
        var (scalarY, scalarIndices) = MaxPool(_backend, g, x, scalar: true);
        Expect.That(Bits(vectorY).SequenceEqual(Bits(scalarY)), $"{g} values {c.Values}: gathered maxima differ in their bits from the scalar loop's");
        Expect.That(vectorIndices.SequenceEqual(scalarIndices), $"{g} values {c.Values}: gathered indices differ from the scalar loop's");
        if (c.Seed % 3 == 0) return; // the reference has no NaN rule
        var (expected, argMax) = Pool2dReference.MaxPool(g, x.Select(v => (double)v).ToArray());
        Numerics.AssertClose(vectorY, expected, 0, 0, $"{g} against the reference");
        Numerics.AssertClose(vectorIndices, argMax.Select(i => (double)i).ToArray(), 0, 0, $"{g} indices against the reference");
    }, runs: 300);

    [Test]
    public void ReluGradientIsTheScalarRule() => Properties.Check(
        from length in Gen.Choose(0, 100) from seed in Properties.DataSeed select (length, seed),
        c =>
        {
            var random = new Random(c.seed);
            var x = Numerics.Uniform(random, c.length).Select(v => (float)v).ToArray();
            var dY = Numerics.Uniform(random, c.length).Select(v => (float)v).ToArray();
            if (c.length > 2) (x[0], x[1], dY[2]) = (float.NaN, -0f, -0f);
            var dX = new float[c.length];
            var xb = _backend.Allocate(c.length);
            var dyb = _backend.Allocate(c.length);
            var dxb = _backend.Allocate(c.length);
            _backend.Upload(x, xb);
            _backend.Upload(dY, dyb);
            _backend.UnaryBackward(UnaryOp.Relu, 0f, xb, xb, dyb, dxb, c.length);
            _backend.Download(dxb, dX);
            var expected = x.Select((v, i) => v > 0f ? dY[i] : 0f).ToArray();
            Expect.That(Bits(dX).SequenceEqual(Bits(expected)), $"length {c.length}: ReLU gradient differs from x > 0 ? dY : 0");
        }, runs: 50);

    /// <summary>
    /// The 512-bit ReLU forward gives TensorPrimitives.Max(x, 0)'s bits (the 256-bit path's and the CUDA kernel's rule:
    /// x where x &gt; 0 or NaN, else +0), special values included, over lengths with and without a tail.
    /// </summary>
    [Test]
    public void ReluForwardIsTheMaxWithZero() => Properties.Check(
        from length in Gen.Choose(0, 100) from seed in Properties.DataSeed select (length, seed),
        c =>
        {
            var random = new Random(c.seed);
            float[] special = [float.NaN, -0f, 0f, float.NegativeInfinity, float.PositiveInfinity, -float.Epsilon, float.Epsilon, BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00001))];
            var x = Numerics.Uniform(random, c.length).Select(v => random.Next(4) == 0 ? special[random.Next(special.Length)] : (float)v).ToArray();
            var xb = _backend.Allocate(c.length);
            var yb = _backend.Allocate(c.length);
            _backend.Upload(x, xb);
            _backend.Unary(UnaryOp.Relu, 0f, xb, yb, c.length);
            var y = new float[c.length];
            _backend.Download(yb, y);
            var expected = new float[c.length];
            System.Numerics.Tensors.TensorPrimitives.Max(x, 0f, expected);
            Expect.That(Bits(y).SequenceEqual(Bits(expected)), $"length {c.length}: ReLU differs in its bits from TensorPrimitives.Max(x, 0)");
        }, runs: 60);

    [Test]
    public void OrderedSumKeepsItsEightPartialSums() => Properties.Check(
        from length in Gen.Choose(0, 200) from seed in Properties.DataSeed select (length, seed),
        c =>
        {
            var values = Numerics.Uniform(new Random(c.seed), c.length, -1e4, 1e4).Select(v => (float)v).ToArray();
            // the documented order: partial sum j takes elements j, j+8, ... of the whole groups of 8, then the tree, then the tail
            var partial = new float[8];
            int whole = c.length / 8 * 8;
            for (int i = 0; i < whole; i++) partial[i % 8] += values[i];
            float expected = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
            for (int i = whole; i < c.length; i++) expected += values[i];
            float actual = CpuBackend.SumOrdered(values);
            Expect.That(BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected),
                $"length {c.length}: ordered sum {actual}, expected {expected}");
        }, runs: 50);

    /// <summary>Per-channel sums and broadcasts over (N,C,H,W) and (N,C): the reductions and products of batch norm.</summary>
    [Test]
    public void PerChannelReductionsAndBroadcastsMatchTheReference() => Properties.Check(
        from n in Gen.Choose(1, 4) from ch in Gen.Choose(1, 5) from h in Gen.Choose(1, 9) from w in Gen.Choose(1, 9)
        from rank in Gen.Elements(2, 4) from op in Gen.Elements(BinaryOp.Add, BinaryOp.Subtract, BinaryOp.Multiply, BinaryOp.Divide)
        from seed in Properties.DataSeed
        select (xShape: rank == 4 ? new Shape(n, ch, h, w) : new Shape(n, ch), statShape: rank == 4 ? new Shape(1, ch, 1, 1) : new Shape(1, ch), op, seed),
        c =>
        {
            var random = new Random(c.seed);
            var x = Numerics.Uniform(random, c.xShape.Size);
            var s = Numerics.Uniform(random, c.statShape.Size, 0.5, 2);
            int plane = c.xShape.Size / (c.xShape[0] * c.xShape[1]);
            var xb = Upload(x);
            var sb = Upload(s);
            var sums = _backend.Allocate(c.statShape.Size);
            _backend.ReduceSum(xb, c.xShape, sums, c.statShape);
            var expectedSums = new double[c.statShape.Size];
            for (int i = 0; i < x.Length; i++) expectedSums[i / plane % c.xShape[1]] += x[i];
            Numerics.AssertClose(Download(sums, c.statShape.Size), expectedSums, 1e-5, 1e-5, $"sum of {c.xShape} to {c.statShape}");
            var y = _backend.Allocate(x.Length);
            _backend.Binary(c.op, xb, c.xShape, sb, c.statShape, y, c.xShape);
            var expected = x.Select((v, i) => ElementwiseReference.Binary(c.op, v, s[i / plane % c.xShape[1]])).ToArray();
            Numerics.AssertClose(Download(y, x.Length), expected, 1e-6, 1e-6, $"{c.op} of {c.xShape} and {c.statShape}");
            _backend.Binary(c.op, sb, c.statShape, xb, c.xShape, y, c.xShape);
            expected = x.Select((v, i) => ElementwiseReference.Binary(c.op, s[i / plane % c.xShape[1]], v)).ToArray();
            Numerics.AssertClose(Download(y, x.Length), expected, 1e-5, 1e-5, $"{c.op} of {c.statShape} and {c.xShape}");
        }, runs: 100);

    private DeviceBuffer Upload(double[] values)
    {
        var buffer = _backend.Allocate(values.Length);
        _backend.Upload(values.Select(v => (float)v).ToArray(), buffer);
        return buffer;
    }

    private float[] Download(DeviceBuffer buffer, int length)
    {
        var result = new float[length];
        _backend.Download(buffer, result);
        return result;
    }
}
