using Engine.Cpu;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Tests.Perf;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The CPU backend on a machine without AVX-512, simulated end to end by <see cref="GemmKernels.ForceVector256"/>:
/// every operation of a small conv net's training step must take its 256-bit, scalar or implicit-GEMM path (no
/// 512-bit entry point counted by <see cref="Wide512Meter"/>) and agree with the double references or with the
/// 512-bit run. The switch is static, so these tests run alone.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class Vector256PathTests
{
    private readonly CpuBackend _backend = new(2);

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    /// <summary>
    /// Runs <paramref name="body"/> with the 256-bit paths forced and the meter counting, asserts that no 512-bit entry
    /// point ran, and restores the default paths.
    /// </summary>
    private static T Forced256<T>(string what, Func<T> body)
    {
        GemmKernels.ForceVector256 = true;
        Wide512Meter.Reset();
        Wide512Meter.Enabled = true;
        try
        {
            var result = body();
            Wide512Meter.Enabled = false;
            var entries = Wide512Meter.Entries();
            Assert.That(entries, Is.Empty, $"{what}: expected no 512-bit path with ForceVector256, got {Describe(entries)}");
            return result;
        }
        finally
        {
            Wide512Meter.Enabled = false;
            Wide512Meter.Reset();
            GemmKernels.ForceVector256 = false;
        }
    }

    private static void Forced256(string what, Action body) => Forced256(what, () =>
    {
        body();
        return 0;
    });

    private static string Describe(IReadOnlyDictionary<string, long> entries) =>
        string.Join(", ", entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key} x{e.Value}"));

    /// <summary>The meter is live: the same operations on the default paths enter 512-bit code it names (where AVX-512 exists).</summary>
    [Test]
    public void Meter_SeesThe512BitPaths_WhenTheyRun()
    {
        if (!GemmKernels.Use512) Assert.Ignore("this CPU has no AVX-512: the 512-bit paths never run, so there is nothing to see");
        Wide512Meter.Reset();
        Wide512Meter.Enabled = true;
        try
        {
            LeNetStep(seed: 3);
        }
        finally
        {
            Wide512Meter.Enabled = false;
        }
        var entries = Wide512Meter.Entries();
        Wide512Meter.Reset();
        string[] expected = ["WinogradHybridImage", "ChannelVectorWeightGradientChunk", "Kernel512", "MaxPoolPairsPlanes", "MaxPoolPairsBackwardPlanes", "PanelCopy"];
        Assert.That(expected.Where(site => !entries.ContainsKey(site)), Is.Empty,
            $"a LeNet-5 step on the 512-bit paths: expected entries {string.Join(", ", expected)}, got {Describe(entries)}");
    }

    /// <summary>
    /// The loops written once for both widths (batch-norm rows, SGD momentum) count their 512-bit instantiation under
    /// the member's name, as the Forced256 tests need to see that nothing 512-bit ran.
    /// </summary>
    [Test]
    public void Meter_SeesTheWidthGenericLoops_At512Bits()
    {
        if (!GemmKernels.Use512) Assert.Ignore("this CPU has no AVX-512: the 512-bit paths never run, so there is nothing to see");
        var shape = new Shape(2, 3, 5, 7);
        var make = Optimizers.Single(o => o.Name == "SGD momentum + weight decay").Make;
        Wide512Meter.Reset();
        Wide512Meter.Enabled = true;
        try
        {
            BatchNormPasses(shape, PerfReference.Random(shape.Size, 1), PerfReference.Random(shape.Size, 2));
            OptimizerSteps(make);
        }
        finally
        {
            Wide512Meter.Enabled = false;
        }
        var entries = Wide512Meter.Entries();
        Wide512Meter.Reset();
        string[] expected = ["RowSum", "RowSquaredDeviations", "RowGradientSums", "AffineRow", "SgdMomentumVector"];
        Assert.That(expected.Where(site => !entries.ContainsKey(site)), Is.Empty,
            $"batch norm and SGD steps on the 512-bit paths: expected entries {string.Join(", ", expected)}, got {Describe(entries)}");
    }

    /// <summary>LeNet-5's two layers, a 3x3 padded layer, depthwise and grouped layers, a 1x1 and a strided stem-like layer.</summary>
    private static readonly Conv2dGeometry[] Layers =
    [
        new(8, 1, 28, 28, 6, 5, 1, 2, 1),
        new(8, 6, 14, 14, 16, 5, 1, 0, 1),
        new(2, 16, 12, 13, 24, 3, 1, 1, 1),
        new(2, 12, 11, 10, 12, 3, 1, 1, 1, 12),
        new(2, 12, 9, 9, 18, 3, 1, 1, 1, 3),
        new(2, 32, 9, 11, 24, 1, 1, 0, 1),
        new(1, 3, 30, 30, 16, 7, 2, 3, 1),
    ];

    /// <summary>Forward, backward data, backward weight and bias of each layer against the double reference.</summary>
    [TestCaseSource(nameof(Layers))]
    public void Conv2d_Forced256_AgreesWithReference(Conv2dGeometry g)
    {
        Forced256($"convolution {g}", () =>
        {
            Assert.That(CpuBackend.TakesChannelVectors(g) || CpuBackend.TakesWinograd(g), Is.False, $"{g}: expected no channel-vector or F(2, 5) forward (AVX-512 only), got it");
            Conv2dPerfTests.CheckAll(_backend, g, g.InChannels + g.OutChannels, withBias: true);
        });
    }

    /// <summary>Generated geometries: groups, strides, dilations, asymmetric padding, pointwise and direct-path shapes.</summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry Geometry, int Seed)> ConvCases =
        from groups in Gen.Choose(1, 3)
        from n in Gen.Choose(1, 3)
        from cg in Gen.Choose(1, 6)
        from kg in Gen.Choose(1, 18)
        from h in Gen.Choose(1, 16)
        from w in Gen.Choose(1, 16)
        from kh in Gen.Choose(1, 5)
        from kw in Gen.Choose(1, 5)
        from stride in Gen.Elements(1, 1, 2)
        from dilation in Gen.Elements(1, 1, 2)
        from top in Gen.Choose(0, 2)
        from left in Gen.Choose(0, 2)
        from bottom in Gen.Choose(0, 2)
        from right in Gen.Choose(0, 2)
        from seed in Properties.DataSeed
        // at least the dilated kernel's extent after padding (the geometry's validity rule)
        let height = Math.Max(h, dilation * (kh - 1) + 1 - top - bottom)
        let width = Math.Max(w, dilation * (kw - 1) + 1 - left - right)
        select (new Conv2dGeometry(n, groups * cg, Math.Max(height, 1), Math.Max(width, 1), groups * kg, (kh, kw), stride,
            new Padding2d(top, left, bottom, right), dilation, groups), seed);

    [Test]
    public void Conv2d_Forced256_GeneratedShapes_AgreeWithReference() => Properties.Check(ConvCases, c =>
        Forced256($"convolution {c.Geometry}", () => Conv2dPerfTests.CheckAll(_backend, c.Geometry, c.Seed, withBias: true)), runs: 25);

    /// <summary>Max and average pooling (2x2 stride 2, 3x3 stride 2 padded, wide planes for the row kernel), forward and backward.</summary>
    private static readonly FsCheck.Gen<(Pool2dGeometry Geometry, int Seed)> PoolCases =
        from n in Gen.Choose(1, 2)
        from c in Gen.Choose(1, 4)
        from h in Gen.Choose(2, 40)
        from w in Gen.Choose(2, 70)
        from window in Gen.Elements((2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0))
        from seed in Properties.DataSeed
        select (new Pool2dGeometry(n, c, h, w, window.Item1, window.Item2, window.Item3, 1), seed);

    [Test]
    public void Pooling_Forced256_IsThe512BitRunBitForBit() => Properties.Check(PoolCases, c =>
    {
        var g = c.Geometry;
        var x = PerfReference.Random(g.InputShape.Size, c.Seed);
        var dY = PerfReference.Random(g.OutputShape.Size, c.Seed + 1);
        var wide = Pool(g, x, dY);
        var narrow = Forced256($"pooling {g}", () => Pool(g, x, dY));
        string[] names = ["max pool", "max pool indices", "max pool backward", "average pool", "average pool backward"];
        for (int i = 0; i < names.Length; i++) ExpectSameBits(wide[i], narrow[i], $"{names[i]} {g} (256-bit vs 512-bit)");
    }, runs: 40);

    private float[][] Pool(Pool2dGeometry g, float[] x, float[] dY)
    {
        int inSize = g.InputShape.Size, outSize = g.OutputShape.Size;
        var (y, indices, dX, avg, dAvg) = (_backend.Allocate(outSize), _backend.Allocate(outSize), _backend.Allocate(inSize), _backend.Allocate(outSize), _backend.Allocate(inSize));
        var (xb, dYb) = (Upload(_backend, x), Upload(_backend, dY));
        _backend.MaxPool2d(g, xb, y, indices);
        _backend.MaxPool2dBackward(g, dYb, indices, dX);
        _backend.AvgPool2d(g, xb, avg);
        _backend.AvgPool2dBackward(g, dYb, dAvg);
        return [Download(_backend, y, outSize), Download(_backend, indices, outSize), Download(_backend, dX, inSize),
            Download(_backend, avg, outSize), Download(_backend, dAvg, inSize)];
    }

    /// <summary>Rows shorter than a vector, between 8 and 16, and long rows with tails (LeNet-sized and 28 x 28 maps).</summary>
    [TestCase(4, 6, 1, 1)]
    [TestCase(3, 5, 3, 4)]
    [TestCase(4, 6, 5, 7)]
    [TestCase(8, 6, 28, 28)]
    public void BatchNorm_Forced256_TrainAndEval_AgreeWith512Bit(int n, int c, int h, int w)
    {
        var shape = new Shape(n, c, h, w);
        var x = PerfReference.Random(shape.Size, n + c + h + w);
        var r = PerfReference.Random(shape.Size, n * c * h * w);
        var wide = BatchNormPasses(shape, x, r);
        var narrow = Forced256($"batch norm {shape}", () => BatchNormPasses(shape, x, r));
        string[] names = ["train forward", "dInput", "dWeight", "dBias", "running mean", "running variance", "eval forward"];
        for (int i = 0; i < names.Length; i++) ExpectNear(wide[i], narrow[i], 1e-5, $"batch norm {names[i]} of {shape}");
    }

    /// <summary>Train forward, the gradients of sum(y * r), the running statistics, then the eval forward with them.</summary>
    private float[][] BatchNormPasses(Shape shape, float[] x, float[] r)
    {
        var bn = new BatchNorm2d(shape[1]);
        bn.To(_backend);
        using var scope = Scope.Begin();
        var input = Tensor.FromArray(_backend, x, shape);
        input.RequiresGrad = true;
        var y = bn.Forward(input);
        Ops.Sum(Ops.Multiply(y, Tensor.FromArray(_backend, r, shape))).Backward();
        var trained = y.ToArray();
        bn.Eval();
        var eval = bn.Forward(input).ToArray();
        return [trained, input.Grad!.ToArray(), bn.Weight!.Grad!.ToArray(), bn.Bias!.Grad!.ToArray(),
            bn.RunningMean!.ToArray(), bn.RunningVar!.ToArray(), eval];
    }

    private static readonly (string Name, Func<IReadOnlyList<Tensor>, Optimizer> Make)[] Optimizers =
    [
        ("SGD", p => new Sgd(p, 0.1f)),
        ("SGD momentum + weight decay", p => new Sgd(p, 0.1f, momentum: 0.9f, weightDecay: 5e-4f)),
        ("SGD Nesterov", p => new Sgd(p, 0.1f, momentum: 0.8f, nesterov: true)),
        ("SGD momentum + dampening", p => new Sgd(p, 0.1f, momentum: 0.8f, dampening: 0.1f)),
        ("Adam", p => new Adam(p, 1e-2f, weightDecay: 1e-3f)),
        ("AdamW", p => new AdamW(p, 1e-2f)),
        ("RMSprop", p => new RmsProp(p, 1e-2f, momentum: 0.5f, centered: true)),
    ];

    private static IEnumerable<string> OptimizerNames => Optimizers.Select(o => o.Name);

    /// <summary>Three steps over 1003 values (whole vectors of 16 and 8, then a tail): elementwise updates, the same bits.</summary>
    [TestCaseSource(nameof(OptimizerNames))]
    public void Optimizer_Forced256_StepsAreThe512BitStepsBitForBit(string name)
    {
        var make = Optimizers.Single(o => o.Name == name).Make;
        var wide = OptimizerSteps(make);
        var narrow = Forced256($"{name} steps", () => OptimizerSteps(make));
        ExpectSameBits(wide, narrow, $"{name}: parameters after 3 steps (256-bit vs 512-bit)");
    }

    private float[] OptimizerSteps(Func<IReadOnlyList<Tensor>, Optimizer> make)
    {
        const int count = 1003;
        var parameter = Tensor.FromArray(_backend, PerfReference.Random(count, 11), new Shape(count));
        parameter.RequiresGrad = true;
        var optimizer = make([parameter]);
        for (int step = 0; step < 3; step++)
        {
            using var scope = Scope.Begin();
            optimizer.ZeroGrad();
            var slope = Tensor.FromArray(_backend, PerfReference.Random(count, 20 + step), new Shape(count));
            Ops.Sum(Ops.Multiply(Ops.Multiply(parameter, parameter), slope)).Backward();
            optimizer.Step();
        }
        return parameter.ToArray();
    }

    /// <summary>One LeNet-5 training step's loss and every parameter gradient on the 256-bit paths, near the 512-bit run's.</summary>
    [Test]
    public void LeNet5_Forced256_TrainingStep_AgreesWith512Bit()
    {
        var wide = LeNetStep(seed: 7);
        var narrow = Forced256("a LeNet-5 training step", () => LeNetStep(seed: 7));
        Assert.That(narrow.Loss, Is.EqualTo(wide.Loss).Within(1e-5).Percent, "LeNet-5 loss (256-bit vs 512-bit)");
        Assert.That(narrow.Gradients.Count, Is.EqualTo(wide.Gradients.Count), "LeNet-5 parameter gradients");
        for (int i = 0; i < wide.Gradients.Count; i++) ExpectNear(wide.Gradients[i], narrow.Gradients[i], 1e-4, $"LeNet-5 gradient of parameter {i}");
    }

    /// <summary>The loss and parameter gradients of one step of a freshly initialised LeNet-5 on a random batch of 32.</summary>
    private (double Loss, List<float[]> Gradients) LeNetStep(int seed)
    {
        var model = new LeNet5(10, generator: new Generator((ulong)seed));
        model.To(_backend);
        model.Train();
        using var scope = Scope.Begin();
        var images = Tensor.FromArray(_backend, PerfReference.Random(32 * 28 * 28, seed), new Shape(32, 1, 28, 28));
        var labels = Enumerable.Range(0, 32).Select(i => (i * 7 + seed) % 10).ToArray();
        var loss = Ops.CrossEntropy(model.Forward(images), labels);
        loss.Backward();
        return (loss.Item(), model.Parameters().Select(p => p.Grad!.ToArray()).ToList());
    }

    /// <summary>LeNet-5 trained on the 256-bit paths: a fixed batch whose class is a bright square's position is learnt.</summary>
    [Test]
    public void LeNet5_Forced256_Training_LowersTheLoss()
    {
        const int batch = 40, steps = 15;
        var random = new Random(5);
        var pixels = new float[batch * 28 * 28];
        var labels = new int[batch];
        for (int i = 0; i < batch; i++)
        {
            labels[i] = i % 4;
            int top = labels[i] / 2 * 14 + 3, left = labels[i] % 2 * 14 + 3;
            for (int p = 0; p < 28 * 28; p++) pixels[i * 28 * 28 + p] = 0.2f * (float)random.NextDouble();
            for (int h = top; h < top + 8; h++)
                for (int w = left; w < left + 8; w++) pixels[i * 28 * 28 + h * 28 + w] += 1f;
        }
        var losses = Forced256("LeNet-5 training", () =>
        {
            var model = new LeNet5(4, generator: new Generator(9));
            model.To(_backend);
            model.Train();
            var optimizer = new Adam(model.Parameters(), 3e-3f);
            var seen = new List<double>();
            for (int step = 0; step < steps; step++)
            {
                using var scope = Scope.Begin();
                optimizer.ZeroGrad();
                var loss = Ops.CrossEntropy(model.Forward(Tensor.FromArray(_backend, pixels, new Shape(batch, 1, 28, 28))), labels);
                loss.Backward();
                optimizer.Step();
                seen.Add(loss.Item());
            }
            return seen;
        });
        Assert.That(losses[^1], Is.LessThan(0.5 * losses[0]),
            $"LeNet-5 on the 256-bit paths: expected the loss to halve in {steps} steps, got {string.Join(", ", losses.Select(l => l.ToString("F4")))}");
    }

    /// <summary>Each element within <paramref name="relative"/> of the largest magnitude in <paramref name="expected"/>.</summary>
    private static void ExpectNear(float[] expected, float[] actual, double relative, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        double scale = Math.Max(expected.Max(v => Math.Abs((double)v)), 1e-30), worst = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            if (error > worst) (worst, at) = (error, i);
        }
        Assert.That(worst, Is.LessThanOrEqualTo(relative * scale),
            $"{what}: expected within {relative} x {scale:G4}, got {actual[at]} for {expected[at]} at {at}");
    }
}
