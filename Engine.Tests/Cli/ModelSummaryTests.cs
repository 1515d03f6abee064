using Engine.Cpu;
using Engine.Models;
using Engine.Nn;
using NUnit.Framework;

namespace Engine.Tests.Cli;

[TestFixture]
public sealed class ModelSummaryTests
{
    /// <summary>Runs one Linear twice: weight sharing.</summary>
    private sealed class Twice : Module
    {
        private readonly Linear _shared;

        public Twice() => _shared = AddModule("shared", new Linear(3, 3));

        protected override Tensor ForwardCore(Tensor x) => _shared.Forward(_shared.Forward(x));
    }

    [Test]
    public void RowsAreLeavesInExecutionOrderAndSumToTheTotal()
    {
        using var backend = new CpuBackend(1);
        var model = new Sequential(new Sequential(new Flatten(), new Linear(12, 5)), new ReLU(), new Linear(5, 2));
        var summary = ModelSummary.Of(model, new Shape(4, 3, 2, 2), backend);
        Assert.That(summary.Layers.Select(l => (l.Name, l.Type)), Is.EqualTo(new[]
            { ("0.0", "Flatten"), ("0.1", "Linear"), ("1", "ReLU"), ("2", "Linear") }), "containers are not rows");
        Assert.That(summary.Layers.Select(l => l.OutputShape), Is.EqualTo(new[] { new Shape(4, 12), new Shape(4, 5), new Shape(4, 5), new Shape(4, 2) }));
        Assert.That(summary.Layers.Select(l => l.Params), Is.EqualTo(new long[] { 0, 12 * 5 + 5, 0, 5 * 2 + 2 }));
        Assert.That(summary.TotalParams, Is.EqualTo(model.ParameterCount()));
        Assert.That(summary.Output, Is.EqualTo(new Shape(4, 2)));
    }

    [Test]
    public void ASharedLayerAppearsPerCallButCountsOnce()
    {
        using var backend = new CpuBackend(1);
        var summary = ModelSummary.Of(new Twice(), new Shape(1, 3), backend);
        Assert.That(summary.Layers.Select(l => l.Name), Is.EqualTo(new[] { "shared", "shared" }));
        Assert.That(summary.Layers.Sum(l => l.Params), Is.EqualTo(summary.TotalParams).And.EqualTo(3 * 3 + 3));
    }

    [Test]
    public void SummaryLeavesTheModelInItsModeAndWithoutGradients()
    {
        using var backend = new CpuBackend(1);
        var model = new LeNet5();
        ModelSummary.Of(model, new Shape(1, 1, 28, 28), backend);
        Assert.That(model.Training, Is.True);
        Assert.That(model.Parameters().All(p => p.Grad is null), "no backward ran");
    }

    [Test]
    public void ZooNamesAreCaseInsensitiveAndUnknownNamesListTheKnownOnes()
    {
        Assert.That(ModelZoo.Create("LeNet5", numClasses: 7).ParameterCount(), Is.EqualTo(61706 - 3 * 85));
        var e = Assert.Throws<ArgumentException>(() => ModelZoo.Create("alexnet2"))!;
        Assert.That(e.Message, Does.Contain("'alexnet2'").And.Contain("known models: alexnet, convnext_tiny"));
    }
}
