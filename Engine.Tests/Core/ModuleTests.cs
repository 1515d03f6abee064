using Engine.Models;
using Engine.Nn;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>Modules: parameter counts, PyTorch-style names and defaults, state round trips, train/eval.</summary>
public abstract class ModuleTests : BackendFixture
{
    /// <summary>
    /// 6*1*25+6 + 16*6*25+16 + 400*120+120 + 120*84+84 + 84*10+10 = 156 + 2416 + 48120 + 10164 + 850 = 61,706.
    /// </summary>
    [Test]
    public void LeNet5Has61706Parameters()
    {
        var model = new LeNet5(generator: new Generator(1));
        long bySum = model.NamedParameters().Sum(p => (long)p.Parameter.Shape.Size);
        Assert.That(model.ParameterCount(), Is.EqualTo(61_706));
        Assert.That(bySum, Is.EqualTo(61_706));
    }

    [Test]
    public void LeNet5ParameterNamesFollowTorchSequential()
    {
        var names = new LeNet5(generator: new Generator(1)).NamedParameters().Select(p => p.Name).ToArray();
        Assert.That(names, Is.EqualTo(new[]
        {
            "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
            "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias", "classifier.4.weight", "classifier.4.bias",
        }));
    }

    [Test]
    public void LeNet5MapsDigitsToTenLogits()
    {
        var model = new LeNet5(generator: new Generator(1));
        model.To(Backend);
        Assert.That(model.Forward(Upload(new double[3 * 28 * 28], 3, 1, 28, 28)).Shape, Is.EqualTo(new Shape(3, 10)));
    }

    /// <summary>
    /// PyTorch's default init: weights U(-b, b) with b = gain*sqrt(3/fan_in), gain = sqrt(2/(1+5)), i.e. b = 1/sqrt(fan_in);
    /// biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The draws stay inside and fill most of the range.
    /// </summary>
    [TestCase(3, 8, 3, 1)]
    [TestCase(6, 16, 5, 1)]
    [TestCase(8, 8, 3, 4)]
    public void Conv2dInitIsKaimingUniform(int inChannels, int outChannels, int kernel, int groups)
    {
        var conv = new Conv2d(inChannels, outChannels, kernel, groups: groups, generator: new Generator(11));
        int fanIn = inChannels / groups * kernel * kernel;
        AssertUniformBound(conv.Weight.ToArray(), 1 / Math.Sqrt(fanIn), "weight");
        AssertUniformBound(conv.Bias!.ToArray(), 1 / Math.Sqrt(fanIn), "bias");
    }

    [Test]
    public void LinearInitIsKaimingUniform()
    {
        var linear = new Linear(400, 120, generator: new Generator(12));
        AssertUniformBound(linear.Weight.ToArray(), 1 / Math.Sqrt(400), "weight");
        AssertUniformBound(linear.Bias!.ToArray(), 1 / Math.Sqrt(400), "bias");
    }

    private static void AssertUniformBound(float[] values, double bound, string what)
    {
        Assert.That(values.Max(), Is.LessThanOrEqualTo(bound), $"{what} above the bound {bound}");
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(-bound), $"{what} below -{bound}");
        if (values.Length >= 100)
        {
            Assert.That(values.Max(), Is.GreaterThan(0.9 * bound), $"{what} should reach near +{bound}");
            Assert.That(values.Min(), Is.LessThan(-0.9 * bound), $"{what} should reach near -{bound}");
        }
    }

    /// <summary>Loading one model's state into another (different init) makes their outputs bitwise equal.</summary>
    [Test]
    public void StateDictRoundTrip()
    {
        var source = new LeNet5(generator: new Generator(1));
        var target = new LeNet5(generator: new Generator(2));
        source.To(Backend);
        target.To(Backend);
        var x = Upload(Numerics.Uniform(new Random(3), 2 * 28 * 28), 2, 1, 28, 28);
        Assert.That(target.Forward(x).ToArray(), Is.Not.EqualTo(source.Forward(x).ToArray()));
        var state = source.StateDict();
        target.LoadStateDict(state);
        Assert.That(target.Forward(x).ToArray(), Is.EqualTo(source.Forward(x).ToArray()));
        foreach (var (name, values) in target.StateDict()) Assert.That(values, Is.EqualTo(state[name]), name);
    }

    [Test]
    public void LoadingMismatchedStateNamesWhatIsWrong()
    {
        var model = new LeNet5(generator: new Generator(1));
        var state = model.StateDict();
        state.Remove("classifier.4.bias");
        state["extra.weight"] = [1f];
        var e = Assert.Throws<ArgumentException>(() => model.LoadStateDict(state));
        Assert.That(e!.Message, Does.Contain("missing [classifier.4.bias]").And.Contain("unexpected [extra.weight]"));

        var wrongSize = model.StateDict();
        wrongSize["features.0.bias"] = new float[5];
        e = Assert.Throws<ArgumentException>(() => model.LoadStateDict(wrongSize));
        Assert.That(e!.Message, Does.Contain("'features.0.bias'").And.Contain("(6)").And.Contain("5"));
    }

    [Test]
    public void TrainAndEvalReachEverySubmodule()
    {
        var model = new LeNet5(generator: new Generator(1));
        model.Eval();
        Assert.That(model.Modules().All(m => !m.Training));
        model.Train();
        Assert.That(model.Modules().All(m => m.Training));
    }

    /// <summary>Dropout zeroes about p of the elements and scales the rest by 1/(1-p) in training; eval is the identity.</summary>
    [Test]
    public void DropoutFollowsInvertedDropout()
    {
        var dropout = new Dropout(0.25f, new Generator(4));
        var x = Upload(Enumerable.Repeat(1.0, 20000).ToArray(), 20000);
        var y = dropout.Forward(x).ToArray();
        Assert.That(y.Where(v => v != 0), Is.All.EqualTo(1f / 0.75f).Within(1e-6));
        Assert.That(y.Count(v => v == 0) / 20000.0, Is.EqualTo(0.25).Within(0.02));
        dropout.Eval();
        Assert.That(dropout.Forward(x).ToArray(), Is.All.EqualTo(1f));
    }

    [Test]
    public void LayerPathsNameTheirPlaceInTheModel()
    {
        var model = new LeNet5(generator: new Generator(1));
        Assert.That(model.Features[0].Describe(), Is.EqualTo("Conv2d 'features.0'"));
        Assert.That(model.Classifier[4].Describe(), Is.EqualTo("Linear 'classifier.4'"));
    }
}
