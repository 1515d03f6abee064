using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>Worked examples from textbooks and courses, whose answers are known by hand.</summary>
public abstract class TextbookTests : BackendFixture
{
    private Tensor Grid3x3() => Upload(Enumerable.Range(0, 9).Select(i => (double)i).ToArray(), 1, 1, 3, 3);

    private static float[] Flat(double[,] m) => m.Cast<double>().Select(v => (float)v).ToArray();

    /// <summary>Dive into Deep Learning, 7.2: [[0,1,2],[3,4,5],[6,7,8]] cross-correlated with [[0,1],[2,3]].</summary>
    [Test]
    public void TwoByTwoKernelOnThreeByThreeInput()
    {
        var w = Upload(new double[] { 0, 1, 2, 3 }, 1, 1, 2, 2);
        var y = Engine.Ops.Conv2d(Grid3x3(), w, null, 1, 0, 1);
        Assert.That(y.Shape, Is.EqualTo(new Shape(1, 1, 2, 2)));
        Assert.That(y.ToArray(), Is.EqualTo(Flat(new double[,] { { 19, 25 }, { 37, 43 } })));
    }

    /// <summary>The same with one pixel of zero padding on every side gives a 4x4 map.</summary>
    [Test]
    public void TwoByTwoKernelWithZeroPaddingOne()
    {
        var w = Upload(new double[] { 0, 1, 2, 3 }, 1, 1, 2, 2);
        var y = Engine.Ops.Conv2d(Grid3x3(), w, null, 1, 1, 1);
        double[,] expected = { { 0, 3, 8, 4 }, { 9, 19, 25, 10 }, { 21, 37, 43, 16 }, { 6, 7, 8, 0 } };
        Assert.That(y.Shape, Is.EqualTo(new Shape(1, 1, 4, 4)));
        Assert.That(y.ToArray(), Is.EqualTo(Flat(expected)));
    }

    /// <summary>Dive into Deep Learning, 7.5: 2x2 pooling with stride 1 over the same input.</summary>
    [Test]
    public void TwoByTwoPoolingWithStrideOne()
    {
        var max = new Engine.Nn.MaxPool2d(2, stride: 1).Forward(Grid3x3());
        var avg = new Engine.Nn.AvgPool2d(2, stride: 1).Forward(Grid3x3());
        Assert.That(max.ToArray(), Is.EqualTo(Flat(new double[,] { { 4, 5 }, { 7, 8 } })));
        Assert.That(avg.ToArray(), Is.EqualTo(Flat(new double[,] { { 2, 3 }, { 5, 6 } })));
    }

    /// <summary>
    /// Sobel on a vertical step edge (0 on the left three columns, 1 on the right three): the horizontal-gradient
    /// kernel [[-1,0,1],[-2,0,2],[-1,0,1]] answers (1+2+1)*1 = 4 where its window straddles the step and 0 elsewhere;
    /// the vertical-gradient kernel (its transpose) answers 0 everywhere.
    /// </summary>
    [Test]
    public void SobelOnAStepEdge()
    {
        var image = new double[5 * 6];
        for (int h = 0; h < 5; h++)
            for (int w = 3; w < 6; w++) image[h * 6 + w] = 1;
        var kernels = Upload(new double[] { -1, 0, 1, -2, 0, 2, -1, 0, 1, -1, -2, -1, 0, 0, 0, 1, 2, 1 }, 2, 1, 3, 3);
        var y = Engine.Ops.Conv2d(Upload(image, 1, 1, 5, 6), kernels, null, 1, 0, 1).ToArray();
        float[] gxRow = [0, 4, 4, 0];
        for (int row = 0; row < 3; row++)
        {
            Assert.That(y.AsSpan(row * 4, 4).ToArray(), Is.EqualTo(gxRow), $"Gx row {row}");
            Assert.That(y.AsSpan(12 + row * 4, 4).ToArray(), Is.All.EqualTo(0f), $"Gy row {row}");
        }
    }

    /// <summary>Output size floor((n + 2p - d(k-1) - 1)/s) + 1, for a table of cases worked by hand.</summary>
    [TestCase(7, 3, 2, 0, 1, 3)]     // the classic: 7x7 input, 3x3 kernel, stride 2 -> 3x3
    [TestCase(7, 3, 1, 1, 1, 7)]     // 3x3 with padding 1 keeps the size
    [TestCase(28, 5, 1, 2, 1, 28)]   // LeNet-5's first convolution
    [TestCase(32, 5, 1, 0, 1, 28)]   // LeNet-5 on 32x32 input
    [TestCase(224, 7, 2, 3, 1, 112)] // ResNet stem
    [TestCase(5, 3, 2, 1, 1, 3)]
    [TestCase(10, 3, 1, 0, 2, 6)]    // dilation 2: the kernel spans 5
    [TestCase(6, 2, 2, 0, 1, 3)]
    [TestCase(8, 3, 3, 1, 1, 3)]     // floor(7/3) + 1
    [TestCase(1, 1, 1, 0, 1, 1)]
    public void OutputSizeFormula(int n, int k, int s, int p, int d, int expected)
    {
        var x = Upload(new double[n * n], 1, 1, n, n);
        var w = Upload(new double[k * k], 1, 1, k, k);
        var y = Engine.Ops.Conv2d(x, w, null, s, p, d);
        Assert.That(y.Shape, Is.EqualTo(new Shape(1, 1, expected, expected)));
    }

    /// <summary>'same' padding gives ceil(n / s) for any kernel, stride and dilation (TensorFlow's rule).</summary>
    [Test]
    public void SamePaddingGivesCeilOfSizeOverStride() => Properties.Check(
        from n in Gen.Choose(1, 20) from k in Gen.Choose(1, 6) from s in Gen.Choose(1, 4) from d in Gen.Choose(1, 3) select (n, k, s, d),
        c =>
        {
            var layer = new Engine.Nn.Conv2d(1, 1, c.k, c.s, "same", c.d, bias: false, generator: new Generator(0));
            layer.To(Backend);
            var y = layer.Forward(Upload(new double[c.n * c.n], 1, 1, c.n, c.n));
            int expected = (c.n + c.s - 1) / c.s;
            Expect.That(y.Shape == new Shape(1, 1, expected, expected), $"'same' n={c.n} k={c.k} s={c.s} d={c.d}: got {y.Shape}, expected ceil(n/s) = {expected}");
        }, runs: 100);
}
