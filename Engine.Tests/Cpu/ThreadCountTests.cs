using Engine.Cpu;
using Engine.Tests.Primitives;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>
/// The CPU backend's determinism rule at the primitive level: the same inputs give bitwise identical outputs with
/// 1, 2 and 3 threads (work is split into chunks that depend only on the problem).
/// </summary>
[TestFixture]
public sealed class ThreadCountTests : ThreadCountFixture
{
    /// <summary>Runs <paramref name="kernel"/> on every backend and asserts the outputs are bit for bit the same.</summary>
    private void AssertSameBits(string what, int outputLength, Action<IBackend, Func<double[], DeviceBuffer>, DeviceBuffer> kernel)
    {
        float[]? first = null;
        foreach (var backend in Backends)
        {
            DeviceBuffer Upload(double[] values)
            {
                var buffer = backend.Allocate(values.Length);
                backend.Upload(values.Select(v => (float)v).ToArray(), buffer);
                return buffer;
            }
            var output = backend.Allocate(outputLength);
            kernel(backend, Upload, output);
            var result = new float[outputLength];
            backend.Download(output, result);
            if (first is null) first = result;
            else Expect.That(first.Select(BitConverter.SingleToInt32Bits).SequenceEqual(result.Select(BitConverter.SingleToInt32Bits)),
                $"{what}: {backend.Name} differs in its bits from {Backends[0].Name}");
        }
    }

    [Test]
    public void ConvolutionIsBitwiseIndependentOfThreads() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var x = Numerics.Uniform(random, g.InputShape.Size);
        var w = Numerics.Uniform(random, g.WeightShape.Size);
        var dY = Numerics.Uniform(random, g.OutputShape.Size);
        AssertSameBits($"forward {c}", g.OutputShape.Size, (be, up, y) => be.Conv2d(g, up(x), up(w), null, y));
        AssertSameBits($"backward data {c}", x.Length, (be, up, dX) => be.Conv2dBackwardData(g, up(dY), up(w), dX));
        AssertSameBits($"backward weight {c}", w.Length, (be, up, dW) => be.Conv2dBackwardWeight(g, up(x), up(dY), dW, null));
    }, runs: 40);

    [Test]
    public void GemmReductionsAndSoftmaxAreBitwiseIndependentOfThreads() => Properties.Check(
        from m in Gen.Choose(1, 80) from n in Gen.Choose(1, 80) from k in Gen.Choose(1, 80) from seed in Properties.DataSeed select (m, n, k, seed),
        c =>
        {
            var random = new Random(c.seed);
            var a = Numerics.Uniform(random, c.m * c.k);
            var b = Numerics.Uniform(random, c.k * c.n);
            var big = Numerics.Uniform(random, 70000);
            var gemm = new GemmGeometry(false, true, c.m, c.n, c.k);
            AssertSameBits($"GEMM {gemm}", c.m * c.n, (be, up, y) => be.Gemm(gemm, 1, up(a), up(b), 0, y));
            AssertSameBits("sum of 70000", 1, (be, up, y) => be.ReduceSum(up(big), new Shape(70000), y, new Shape()));
            AssertSameBits("column sums", 7, (be, up, y) => be.ReduceSum(up(big), new Shape(10000, 7), y, new Shape(7)));
            var softmax = new SoftmaxGeometry(c.m, c.n, 1);
            AssertSameBits($"softmax {softmax}", c.m * c.n, (be, up, y) => be.Softmax(softmax, false, up(big[..(c.m * c.n)]), y));
        }, runs: 20);

    /// <summary>The direct path beyond 16 output channels: shallow layers (1 to 3 input channels, 3x3), and 28 x 28 planes with up to 32.</summary>
    [Test]
    public void ShallowConvolutionIsBitwiseIndependentOfThreads() => Properties.Check(
        from n in Gen.Choose(1, 12) from c in Gen.Choose(1, 3) from k in Gen.Choose(17, 40) from hw in Gen.Choose(3, 20)
        from seed in Properties.DataSeed
        from wide in Gen.Elements(false, true)
        select (g: wide ? new Conv2dGeometry(Math.Min(n, 3), 2 * c, 28, 28, Math.Min(k, 32), 3, 1, 1, 1) : new Conv2dGeometry(n, c, hw, hw, k, 3, 1, 1, 1), seed),
        t =>
        {
            var random = new Random(t.seed);
            var x = Numerics.Uniform(random, t.g.InputShape.Size);
            var w = Numerics.Uniform(random, t.g.WeightShape.Size);
            var dY = Numerics.Uniform(random, t.g.OutputShape.Size);
            AssertSameBits($"forward {t.g}", t.g.OutputShape.Size, (be, up, y) => be.Conv2d(t.g, up(x), up(w), null, y));
            AssertSameBits($"backward data {t.g}", x.Length, (be, up, dX) => be.Conv2dBackwardData(t.g, up(dY), up(w), dX));
            AssertSameBits($"backward weight {t.g}", w.Length, (be, up, dW) => be.Conv2dBackwardWeight(t.g, up(x), up(dY), dW, null));
        }, runs: 10);

    /// <summary>The vector paths: gathered max pooling, per-channel sums and broadcasts (batch norm's), ReLU's gradient.</summary>
    [Test]
    public void PoolingAndPerChannelOpsAreBitwiseIndependentOfThreads() => Properties.Check(
        from n in Gen.Choose(1, 3) from c in Gen.Choose(1, 40) from hw in Gen.Choose(2, 30)
        from kernel in Gen.Choose(2, 3) from stride in Gen.Choose(1, 2) from seed in Properties.DataSeed
        select (n, c, hw, kernel, stride, seed),
        k =>
        {
            var random = new Random(k.seed);
            var shape = new Shape(k.n, k.c, k.hw, k.hw);
            var stat = new Shape(1, k.c, 1, 1);
            var x = Numerics.Uniform(random, shape.Size);
            var s = Numerics.Uniform(random, k.c);
            var pool = new Pool2dGeometry(k.n, k.c, k.hw, k.hw, k.kernel, k.stride, k.kernel / 2, 1);
            int pooled = pool.OutputShape.Size;
            AssertSameBits($"max pool {pool}", pooled, (be, up, y) => be.MaxPool2d(pool, up(x), y, be.Allocate(pooled)));
            AssertSameBits($"max pool indices {pool}", pooled, (be, up, indices) => be.MaxPool2d(pool, up(x), be.Allocate(pooled), indices));
            var pairs = new Pool2dGeometry(k.n, k.c, k.hw, k.hw, 2, 2, 0, 1);
            int paired = pairs.OutputShape.Size;
            AssertSameBits($"2x2 max pool {pairs}", paired, (be, up, y) => be.MaxPool2d(pairs, up(x), y, be.Allocate(paired)));
            AssertSameBits($"2x2 max pool indices {pairs}", paired, (be, up, indices) => be.MaxPool2d(pairs, up(x), be.Allocate(paired), indices));
            var g = ChannelGeometry.Of(shape);
            AssertSameBits($"channel statistics of {shape}", 2 * k.c, (be, up, y) =>
            {
                var (mean, variance) = (be.Allocate(k.c), be.Allocate(k.c));
                be.ChannelStatistics(g, up(x), mean, variance);
                be.Copy(mean, 0, y, 0, k.c);
                be.Copy(variance, 0, y, k.c, k.c);
            });
            AssertSameBits($"channel gradient sums of {shape}", 2 * k.c, (be, up, y) =>
            {
                var (plain, centered) = (be.Allocate(k.c), be.Allocate(k.c));
                be.ChannelGradientSums(g, up(x), up(x.Reverse().ToArray()), up(s), plain, centered);
                be.Copy(plain, 0, y, 0, k.c);
                be.Copy(centered, 0, y, k.c, k.c);
            });
            AssertSameBits($"channel affine of {shape}", shape.Size, (be, up, y) =>
                be.ChannelAffine(g, up(x), up(s), up(s.Reverse().ToArray()), up(x.Reverse().ToArray()), up(s), up(s), y));
            var sgd = new SgdSettings(0.01f, 0.9f, 0f, 5e-4f, false, false);
            AssertSameBits($"SGD step over {shape.Size}", shape.Size, (be, up, p) =>
            {
                be.Copy(up(x), 0, p, 0, shape.Size);
                be.SgdStep(sgd, p, up(x.Reverse().ToArray()), up(s.Concat(x).Take(shape.Size).ToArray()), shape.Size);
            });
            AssertSameBits($"per-channel sum of {shape}", k.c, (be, up, y) => be.ReduceSum(up(x), shape, y, stat));
            AssertSameBits($"per-channel product of {shape}", shape.Size, (be, up, y) => be.Binary(BinaryOp.Multiply, up(x), shape, up(s), stat, y, shape));
            AssertSameBits($"ReLU gradient of {shape}", shape.Size, (be, up, dX) => be.UnaryBackward(UnaryOp.Relu, 0f, up(x), up(x), up(x.Reverse().ToArray()), dX, shape.Size));
        }, runs: 20);
}
