using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using NUnit.Framework;

namespace Engine.Tests.Models;

/// <summary>Every zoo model runs forward at its canonical input and learns a fixed small batch at a small resolution.</summary>
public class ModelRunTests
{
    private static readonly Engine.Cpu.CpuBackend Backend = new(2);

    private static readonly (string Name, int Classes, int Channels, int Canonical, int Small)[] Models =
    [
        ("lenet5", 10, 1, 28, 28), ("lenet5_classic", 10, 1, 28, 28), ("alexnet", 1000, 3, 224, 64),
        ("vgg11", 1000, 3, 224, 32), ("vgg13_bn", 1000, 3, 224, 32), ("vgg16", 1000, 3, 224, 32), ("vgg19_bn", 1000, 3, 224, 32),
        ("googlenet", 1000, 3, 224, 32), ("resnet18", 1000, 3, 224, 32), ("resnet34", 1000, 3, 224, 32),
        ("resnet50", 1000, 3, 224, 32), ("resnet101", 1000, 3, 224, 32), ("resnet152", 1000, 3, 224, 32),
        ("resnet20", 10, 3, 32, 32), ("resnet32", 10, 3, 32, 32), ("resnet44", 10, 3, 32, 32), ("resnet56", 10, 3, 32, 32),
        ("resnet110", 10, 3, 32, 32), ("unet", 1, 1, 64, 32), ("mobilenet_v2", 1000, 3, 224, 32),
        ("efficientnet_b0", 1000, 3, 224, 32), ("efficientnet_b1", 1000, 3, 240, 32), ("efficientnet_b2", 1000, 3, 260, 32),
        ("efficientnet_b3", 1000, 3, 300, 32), ("efficientnet_b4", 1000, 3, 380, 32), ("efficientnet_b5", 1000, 3, 456, 32),
        ("efficientnet_b6", 1000, 3, 528, 32), ("efficientnet_b7", 1000, 3, 600, 32), ("convnext_tiny", 1000, 3, 224, 32),
        ("vgg_small", 10, 1, 28, 32),
    ];

    public static IEnumerable<TestCaseData> Cases() => Models.Select(m => new TestCaseData(m.Name, m.Classes, m.Channels, m.Canonical, m.Small).SetName($"{{m}}({m.Name})"));

    private static Tensor Input(int n, int channels, int size, int seed)
    {
        var rng = new Random(seed);
        var values = new float[n * channels * size * size];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return Tensor.FromArray(Backend, values, new Shape(n, channels, size, size));
    }

    [TestCaseSource(nameof(Cases)), Category("Slow")]
    public void RunsForwardAtCanonicalInput(string name, int classes, int channels, int canonical, int small)
    {
        Generator.Default.ManualSeed(1);
        var model = ModelZoo.Create(name, classes, channels).To(Backend);
        model.Eval();
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        var y = model.Forward(Input(1, channels, canonical, 1));
        var expected = name == "unet" ? new Shape(1, classes, canonical, canonical) : new Shape(1, classes);
        Assert.That(y.Shape, Is.EqualTo(expected));
        Assert.That(y.ToArray().All(float.IsFinite), "outputs are finite");
    }

    [TestCaseSource(nameof(Cases)), Category("Slow")]
    public void TrainingStepsLowerTheLossOnAFixedBatch(string name, int classes, int channels, int canonical, int small)
    {
        Generator.Default.ManualSeed(2);
        var model = ModelZoo.Create(name, classes, channels).To(Backend);
        // Plain gradient descent with a small step: on a fixed batch with fixed dropout masks it must go downhill.
        var optimizer = new Sgd(model.Parameters(), 0.01f);
        float Loss(bool step)
        {
            using var scope = Scope.Begin();
            Generator.Default.ManualSeed(7); // the same dropout / stochastic-depth masks every time
            var x = Input(2, channels, small, 3);
            var y = model.Forward(x);
            Tensor loss = name == "unet"
                ? Ops.BceWithLogits(y, Tensor.FromArray(Backend, Input(2, 1, small, 4).ToArray().Select(v => v > 0 ? 1f : 0f).ToArray(), y.Shape))
                : Ops.CrossEntropy(y, [1 % classes, 7 % classes]);
            if (step)
            {
                optimizer.ZeroGrad();
                loss.Backward();
                optimizer.Step();
            }
            return loss.Item();
        }
        float before = Loss(step: false);
        for (int i = 0; i < 4; i++) Loss(step: true);
        float after = Loss(step: false);
        Assert.That(after, Is.LessThan(before), $"{name}: loss before {before}, after {after}");
    }

    [Test, Category("Slow")]
    public void ResNet1202TrainsWithoutRecursionOrUnboundedMemory()
    {
        Generator.Default.ManualSeed(3);
        var model = ModelZoo.Create("resnet1202", 10, 3).To(Backend);
        Assert.That(model.ParameterCount(), Is.InRange(19_300_000L, 19_500_000L), "about 19.4 M parameters");
        var optimizer = new Sgd(model.Parameters(), 0.01f, momentum: 0.9f);
        long afterWarmUp = 0;
        for (int step = 0; step < 4; step++)
        {
            // two warm-up steps: the first optimizer step makes the momentum buffers, which may take buffers the first
            // backward just returned to the pool, so the second step refills the pool
            if (step == 2) afterWarmUp = GC.GetTotalMemory(true);
            using var scope = Scope.Begin();
            var loss = Ops.CrossEntropy(model.Forward(Input(2, 3, 32, step)), [3, 5]);
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
            Assert.That(float.IsFinite(loss.Item()));
        }
        // Buffers return to the backend's pool, so later steps reuse the warm-up steps' memory.
        Assert.That(GC.GetTotalMemory(true) - afterWarmUp, Is.LessThan(64L << 20), "memory does not grow after the warm-up steps");
    }

    [Test]
    public void InputTooSmallNamesTheLayerWhereTheSizeReachesZero()
    {
        var model = ModelZoo.Create("vgg16", 10, 3).To(Backend);
        using var scope = Scope.Begin();
        var e = Assert.Throws<ArgumentException>(() => model.Forward(Input(1, 3, 16, 1)));
        Assert.That(e!.Message, Does.StartWith("MaxPool2d 'features.30'").And.Contain("larger than the padded input 1x1"));
    }

    [Test]
    public void ChannelsNotDivisibleByGroupsIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => new Conv2d(6, 4, 3, groups: 4));
        Assert.That(e!.Message, Does.Contain("in channels (6) and out channels (4) must both be divisible by groups (4)"));
    }

    [Test]
    public void UnknownModelListsTheKnownNames()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelZoo.Create("resnet19"));
        Assert.That(e!.Message, Does.Contain("unknown model 'resnet19'").And.Contain("resnet18"));
    }
}
