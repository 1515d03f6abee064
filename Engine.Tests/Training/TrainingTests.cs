using Engine.Cpu;
using Engine.Data;
using Engine.Models;
using Engine.Optim;
using Engine.Tests.Support;
using Engine.Training;
using NUnit.Framework;

namespace Engine.Tests.Training;

/// <summary>
/// End-to-end training on the bundled digits: bitwise determinism across runs and thread counts, and the
/// accuracy of the default recipe (Engine.Cli: LeNet-5, batch 64, SGD lr 0.05 momentum 0.9, seed 1, 5 epochs).
/// </summary>
[TestFixture]
public sealed class TrainingTests
{
    private const int Batch = 64;

    /// <summary>The state after <paramref name="steps"/> SGD steps from seed 1 on a backend with the given threads.</summary>
    private static Dictionary<string, float[]> TrainSteps(int threads, int steps)
    {
        using var backend = new CpuBackend(threads);
        var model = new LeNet5(generator: new Generator(1));
        model.To(backend);
        var sgd = new Sgd(model.Parameters(), 0.05f, momentum: 0.9f);
        var loader = new DataLoader(TestData.MnistTrain, Batch, shuffle: true, seed: 1);
        int done = 0;
        foreach (var batch in loader.Batches(backend))
        {
            if (done++ == steps) break;
            using var scope = Scope.Begin();
            sgd.ZeroGrad();
            Engine.Ops.CrossEntropy(model.Forward(batch.Images), batch.Labels).Backward();
            sgd.Step();
        }
        return model.StateDict();
    }

    private static void AssertBitwiseEqual(Dictionary<string, float[]> a, Dictionary<string, float[]> b, string what)
    {
        Assert.That(a.Keys, Is.EquivalentTo(b.Keys));
        foreach (var (name, values) in a)
        {
            var other = b[name];
            int differing = Enumerable.Range(0, values.Length).Count(i => BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(other[i]));
            Assert.That(differing, Is.Zero, $"{what}: {differing} of {values.Length} values of '{name}' differ in their bits");
        }
    }

    [Test]
    public void SameSeedGivesBitwiseIdenticalWeightsAcrossRunsAndThreadCounts()
    {
        const int steps = 8;
        var first = TrainSteps(threads: 2, steps);
        var second = TrainSteps(threads: 2, steps);
        var single = TrainSteps(threads: 1, steps);
        AssertBitwiseEqual(first, second, "two runs with 2 threads");
        AssertBitwiseEqual(first, single, "1 thread vs 2 threads");
        Assert.That(first["features.0.weight"], Is.Not.EqualTo(new LeNet5(generator: new Generator(1)).StateDict()["features.0.weight"]),
            "training moved the weights");
    }

    /// <summary>The bundled digits load as 8,000 training and 2,000 test images of 1 x 28 x 28, normalized.</summary>
    [Test]
    public void BundledDigitsLoad()
    {
        Assert.That(TestData.MnistTrain.Count, Is.EqualTo(8000));
        Assert.That(TestData.MnistTest.Count, Is.EqualTo(2000));
        Assert.That(TestData.MnistTrain.ItemShape, Is.EqualTo(new Shape(1, 28, 28)));
        double mean = TestData.MnistTrain.Images.Average(v => (double)v);
        Assert.That(mean, Is.EqualTo(0).Within(0.1), "pixels are normalized with MNIST's mean and std");
    }

    /// <summary>The default recipe of Engine.Cli reaches at least 96% test accuracy in 5 epochs.</summary>
    [Test, Category("Slow")]
    public void LeNet5ReachesNinetySixPercentInFiveEpochs()
    {
        Generator.Default.ManualSeed(1);
        using var backend = new CpuBackend(2);
        var model = new LeNet5();
        model.To(backend);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), Engine.Cli.TrainCommand.DefaultLearningRate("sgd"), momentum: 0.9f), backend);
        var accuracies = new List<double>();
        for (int epoch = 0; epoch < 5; epoch++)
        {
            trainer.TrainEpoch(new DataLoader(TestData.MnistTrain, Batch, shuffle: true, seed: 1), epoch);
            accuracies.Add(Trainer.Evaluate(model, new DataLoader(TestData.MnistTest, 256), backend).Accuracy);
        }
        TestContext.Out.WriteLine($"test accuracy per epoch: {string.Join(", ", accuracies.Select(a => a.ToString("P2")))}");
        Assert.That(accuracies[^1], Is.GreaterThanOrEqualTo(0.96));
    }
}
