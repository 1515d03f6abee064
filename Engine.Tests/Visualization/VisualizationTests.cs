using Engine.Cpu;
using Engine.Data;
using Engine.Imaging;
using Engine.Models;
using Engine.Nn;
using Engine.Visualization;
using NUnit.Framework;

namespace Engine.Tests.Visualization;

/// <summary>
/// Classic kernels against a scalar reference, activation maximization raising its target, and the pictures of
/// filters, feature maps and dataset examples.
/// </summary>
[TestFixture]
public sealed class VisualizationTests
{
    private CpuBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend() => _backend = new CpuBackend(2);

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    /// <summary>
    /// The scalar oracle: y[n, c, i, j] = sum over (u, v) of k[u, v] * x[n, c, clamp(i + u - R/2), clamp(j + v - S/2)]
    /// (cross-correlation with replicate padding).
    /// </summary>
    private static float[] Reference(float[] x, int n, int channels, int h, int w, float[,] k)
    {
        int r = k.GetLength(0), s = k.GetLength(1);
        var y = new float[x.Length];
        for (int plane = 0; plane < n * channels; plane++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    double sum = 0;
                    for (int u = 0; u < r; u++)
                        for (int v = 0; v < s; v++)
                        {
                            int row = Math.Clamp(i + u - r / 2, 0, h - 1), column = Math.Clamp(j + v - s / 2, 0, w - 1);
                            sum += k[u, v] * x[(plane * h + row) * w + column];
                        }
                    y[(plane * h + i) * w + j] = (float)sum;
                }
        return y;
    }

    private static float[] RandomValues(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)random.NextDouble()).ToArray();
    }

    [Test]
    public void ClassicKernelsThroughConv2dAgreeWithTheScalarReference()
    {
        const int n = 2, channels = 3, h = 7, w = 9;
        var values = RandomValues(n * channels * h * w, 1);
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(_backend, values, new Shape(n, channels, h, w));
        var kernels = new (ClassicKernel Kind, float[,] Kernel)[]
        {
            (ClassicKernel.SobelX, ClassicKernels.SobelX), (ClassicKernel.SobelY, ClassicKernels.SobelY),
            (ClassicKernel.GaussianBlur, ClassicKernels.Gaussian()), (ClassicKernel.Sharpen, ClassicKernels.Sharpen),
            (ClassicKernel.Laplacian, ClassicKernels.Laplacian),
        };
        foreach (var (kind, kernel) in kernels)
            Assert.That(ClassicKernels.Apply(x, kind).ToArray(), Is.EqualTo(Reference(values, n, channels, h, w, kernel)).Within(1e-5f), kind.ToString());
        var gx = Reference(values, n, channels, h, w, ClassicKernels.SobelX);
        var gy = Reference(values, n, channels, h, w, ClassicKernels.SobelY);
        var magnitude = gx.Select((v, i) => MathF.Sqrt(v * v + gy[i] * gy[i])).ToArray();
        Assert.That(ClassicKernels.Apply(x, ClassicKernel.SobelMagnitude).ToArray(), Is.EqualTo(magnitude).Within(1e-5f));
    }

    [Test]
    public void ClassicKernelsHaveTheirTextbookProperties()
    {
        // A normalized Gaussian sums to 1 and is symmetric; on a vertical step edge Sobel x responds, Sobel y does not.
        var g = ClassicKernels.Gaussian(1f);
        Assert.That(g.Cast<float>().Sum(), Is.EqualTo(1f).Within(1e-6f));
        Assert.That(g[0, 1], Is.EqualTo(g[1, 0]));
        var step = new float[5 * 6];
        for (int i = 0; i < 5; i++)
            for (int j = 3; j < 6; j++) step[i * 6 + j] = 1f;
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(_backend, step, new Shape(1, 1, 5, 6));
        var sobelX = ClassicKernels.Apply(x, ClassicKernel.SobelX).ToArray();
        // At columns 2 and 3 the 3-wide window straddles the edge: (1 + 2 + 1) * (1 - 0) = 4.
        Assert.That(sobelX.Where((_, p) => p % 6 is 2 or 3), Is.All.EqualTo(4f));
        Assert.That(ClassicKernels.Apply(x, ClassicKernel.SobelY).ToArray(), Is.All.EqualTo(0f));
        Assert.That(ClassicKernels.Apply(x, ClassicKernel.GaussianBlur).ToArray().Sum(), Is.EqualTo(15f).Within(0.75f), "blur roughly keeps the mass");
    }

    private static LeNet5 RandomLeNet() => new(generator: new Generator(3));

    [Test]
    public void ActivationMaximizationRaisesAChannelThreefoldAndBeyondEveryTestImage()
    {
        var model = RandomLeNet();
        model.To(_backend);
        var input = new Shape(1, 1, 28, 28);
        // The range of MNIST-normalized pixels: (0 - 0.1307) / 0.3081 to (1 - 0.1307) / 0.3081.
        var settings = new MaximizationSettings(Low: -0.43f, High: 2.83f);
        // The mean of the ReLU after conv2 (feature map 16 x 10 x 10), channel 5.
        var target = new ActivationTarget("features.4", 5);
        var channel = ActivationMaximization.Run(model, target, input, _backend, settings);
        var data = DataOptionsTake(300);
        float bestImage = Enumerable.Range(0, data.Count).Max(i =>
            ActivationMaximization.Objective(model, model.Features[4], target, data.Images.AsSpan(i * 784, 784).ToArray(), input, _backend));
        TestContext.Out.WriteLine($"channel: {channel.StartActivation} -> {channel.FinalActivation} (x{channel.Factor}); best of 300 test images {bestImage}");
        Assert.That(channel.StartActivation, Is.Positive, "the starting noise already activates the channel a little");
        Assert.That(channel.Factor, Is.GreaterThanOrEqualTo(3f), $"from {channel.StartActivation} to {channel.FinalActivation}");
        Assert.That(channel.FinalActivation, Is.GreaterThan(bestImage), "the optimized image activates the channel more than any of 300 test digits");
        Assert.That(channel.Input.All(v => v is >= -0.43f and <= 2.83f), "the image stays in the input range");

        Assert.That(model.Parameters().All(p => p.RequiresGrad && p.Grad is null), "weights keep RequiresGrad and collect no gradient");
    }

    [Test]
    public void ActivationMaximizationOfAClassLogitOfATrainedNetworkMakesItTheTopPrediction()
    {
        // A random network's logits hardly depend on the input; 64 SGD steps on 4,096 digits give one that does.
        var model = RandomLeNet();
        model.To(_backend);
        var sgd = new Engine.Optim.Sgd(model.Parameters(), 0.03f, momentum: 0.9f);
        foreach (var batch in new DataLoader(Engine.Cli.DataOptions.Take(Support.TestData.MnistTrain, 4096), 64, shuffle: true, seed: 1).Batches(_backend))
        {
            using var step = Scope.Begin();
            sgd.ZeroGrad();
            Ops.CrossEntropy(model.Forward(batch.Images), batch.Labels).Backward();
            sgd.Step();
        }
        var input = new Shape(1, 1, 28, 28);
        var logit = ActivationMaximization.Run(model, ActivationTarget.Class(7), input, _backend, new MaximizationSettings(Low: -0.43f, High: 2.83f));
        TestContext.Out.WriteLine($"class 7 logit: {logit.StartActivation} -> {logit.FinalActivation}");
        Assert.That(logit.FinalActivation, Is.GreaterThan(logit.StartActivation + 5f), $"from {logit.StartActivation} to {logit.FinalActivation}");
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        var logits = model.Forward(Tensor.FromArray(_backend, logit.Input, input)).ToArray();
        Assert.That(Array.IndexOf(logits, logits.Max()), Is.EqualTo(7), "the optimized image is classified as the target class");
    }

    [Test]
    public void NeuronsThatStartOffAreTurnedOnThroughTheirPreActivation()
    {
        var model = RandomLeNet();
        model.To(_backend);
        var input = new Shape(1, 1, 28, 28);
        var settings = new MaximizationSettings(Steps: 64, Low: -0.43f, High: 2.83f);
        // The first neurons of the ReLU after conv2 (16 x 10 x 10) that are off (0) on the starting noise end on.
        var start = new Generator(settings.Seed).Uniform(784, 1.2f - 0.163f, 1.2f + 0.163f);
        var off = new List<ActivationTarget>();
        for (int c = 0; c < 16 && off.Count < 2; c++)
        {
            var neuron = new ActivationTarget("features.4", c, 5, 5);
            if (ActivationMaximization.Objective(model, model.Features[4], neuron, start, input, _backend) == 0f) off.Add(neuron);
        }
        Assert.That(off, Has.Count.EqualTo(2), "the random network has neurons that are off on the starting noise");
        foreach (var neuron in off)
        {
            var result = ActivationMaximization.Run(model, neuron, input, _backend, settings);
            TestContext.Out.WriteLine($"{neuron}: {result.StartActivation} -> {result.FinalActivation}");
            Assert.That(result.StartActivation, Is.Zero, $"{neuron} starts off");
            Assert.That(result.FinalActivation, Is.Positive, $"{neuron} turns on (climbing its pre-activation while off)");
        }
        var e = Assert.Throws<ArgumentException>(() => ActivationMaximization.Run(model, new ActivationTarget("features.4", 16), input, _backend));
        Assert.That(e!.Message, Does.Contain("outputs (1,16,10,10)").And.Contain("channel 16"));
    }

    [Test]
    public void RollShiftsWithWrapAroundAndInverts()
    {
        float[] x = [1, 2, 3, 4, 5, 6]; // one 2 x 3 plane
        Assert.That(ActivationMaximization.Roll(x, 1, 2, 3, 0, 1), Is.EqualTo(new float[] { 3, 1, 2, 6, 4, 5 }));
        Assert.That(ActivationMaximization.Roll(x, 1, 2, 3, 1, 0), Is.EqualTo(new float[] { 4, 5, 6, 1, 2, 3 }));
        Assert.That(ActivationMaximization.Roll(ActivationMaximization.Roll(x, 1, 2, 3, 1, -2), 1, 2, 3, -1, 2), Is.EqualTo(x));
    }

    [Test]
    public void FeatureMapsAreTheLayerOutput()
    {
        var model = RandomLeNet();
        model.To(_backend);
        var values = RandomValues(28 * 28, 2);
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(_backend, values, new Shape(1, 1, 28, 28));
        var (maps, shape) = FeatureMaps.Compute(model, "features.1", x);
        Assert.That(shape, Is.EqualTo(new Shape(1, 6, 28, 28)));
        using (Autograd.NoGrad())
        {
            var direct = model.Features[1].Forward(model.Features[0].Forward(x)).ToArray();
            Assert.That(maps, Is.EqualTo(direct));
        }
        var picture = FeatureMaps.Render(maps, shape);
        // 6 tiles in 3 columns and 2 rows of 28 x 2 = 56 pixels, 2-pixel gaps around each.
        Assert.That((picture.Width, picture.Height), Is.EqualTo((3 * 58 + 2, 2 * 58 + 2)));
        var e = Assert.Throws<ArgumentException>(() => FeatureMaps.Compute(model, "features.9", x));
        Assert.That(e!.Message, Does.Contain("no layer named 'features.9'").And.Contain("features.3 (Conv2d)"));
    }

    [Test]
    public void FiltersAreDrawnWithZeroAsMidGrey()
    {
        // Two 1-channel 1x2 filters: [1, -1] and [0, 0.5]: with limit 1, 1 -> 255, -1 -> 0, 0 -> 128 (rounded 127.5), 0.5 -> 191.
        var picture = Filters.Render([1f, -1f, 0f, 0.5f], new Shape(2, 1, 1, 2));
        int scale = Pictures.ScaleFor(2, 24);
        Assert.That(picture[2, 2, 0], Is.EqualTo(255));
        Assert.That(picture[2, 2 + scale, 0], Is.EqualTo(0));
        int second = 2 + 2 * scale + 2;
        Assert.That(picture[2, second, 0], Is.EqualTo(128));
        Assert.That(picture[2, second + scale, 0], Is.EqualTo(191));
        var lenet = RandomLeNet();
        var conv2 = Filters.Render(lenet, "features.3.weight");
        // 16 filters x 6 input channels, 5 x 5 enlarged to 25 x 25.
        Assert.That((conv2.Width, conv2.Height), Is.EqualTo((6 * 27 + 2, 16 * 27 + 2)));
        var e = Assert.Throws<ArgumentException>(() => Filters.Render(lenet, "classifier.0.weight"));
        Assert.That(e!.Message, Does.Contain("shape (120,400)").And.Contain("expected a convolution weight"));
    }

    [Test]
    public void DatasetExamplesAreTheImagesWithTheLargestActivation()
    {
        var model = RandomLeNet();
        model.To(_backend);
        var data = DataOptionsTake(300);
        var top = DatasetExamples.Top(model, "features.1", 2, data, _backend, count: 5);
        Assert.That(top.Select(t => t.Score), Is.Ordered.Descending);
        // Brute force: the max of channel 2 of features.1 for every image, one at a time.
        var scores = new float[data.Count];
        using (Autograd.NoGrad())
            for (int i = 0; i < data.Count; i++)
            {
                using var scope = Scope.Begin();
                var x = Tensor.FromArray(_backend, data.Images.AsSpan(i * 784, 784), new Shape(1, 1, 28, 28));
                var y = model.Features[1].Forward(model.Features[0].Forward(x)).ToArray();
                scores[i] = y.AsSpan(2 * 784, 784).ToArray().Max();
            }
        var expected = Enumerable.Range(0, data.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(5).ToArray();
        Assert.That(top.Select(t => t.Index), Is.EqualTo(expected));
        Assert.That(top.Select(t => t.Score), Is.EqualTo(expected.Select(i => scores[i])).Within(1e-5f));
        var grid = DatasetExamples.Render(data, top.Select(t => t.Index));
        Assert.That(grid.Channels, Is.EqualTo(1));
    }

    private static Dataset DataOptionsTake(int count) => Engine.Cli.DataOptions.Take(Support.TestData.MnistTest, count);
}
