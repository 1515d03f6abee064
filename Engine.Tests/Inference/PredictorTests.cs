using Engine.Cpu;
using Engine.Inference;
using Engine.Models;
using Engine.Tests.Onnx;
using NUnit.Framework;

namespace Engine.Tests.Inference;

/// <summary>One predictor, many threads: the same answers as one thread (allocations: <see cref="PredictorAllocationTests"/>).</summary>
[TestFixture]
public sealed class PredictorTests
{
    private const int Threads = 8;

    private static float[][] RandomInputs(int count, Shape shape, ulong seed)
    {
        var generator = new Generator(seed);
        return Enumerable.Range(0, count).Select(_ => generator.Uniform(shape.Size, 0f, 1f)).ToArray();
    }

    [TestCase("lenet5", 1, 28, 200)]
    [TestCase("resnet20", 2, 32, 20)]
    public void ConcurrentPredictionsEqualSequentialOnesBitwise(string name, int batch, int size, int callsPerThread)
    {
        using var backend = new CpuBackend(2);
        var entry = ModelZoo.Find(name);
        var predictor = new Predictor(ModelZoo.Create(name, generator: new Generator(1)), backend, new Shape(batch, entry.DefaultChannels, size, size));
        AssertConcurrentEqualsSequential(predictor, callsPerThread);
    }

    /// <summary>The same for models loaded from ONNX (their compiled plans share one remembered shape arithmetic).</summary>
    [TestCase("lenet", 2, 100)]
    [TestCase("resnet", 2, 40)]
    public void ConcurrentPredictionsOnAnOnnxModelEqualSequentialOnesBitwise(string graph, int batch, int callsPerThread)
    {
        using var backend = new CpuBackend(2);
        var shape = graph == "lenet" ? new Shape(batch, 1, 28, 28) : new Shape(batch, 3, 16, 16);
        AssertConcurrentEqualsSequential(new Predictor(OnnxPlanTests.Load(graph), backend, shape), callsPerThread);
    }

    private static void AssertConcurrentEqualsSequential(Predictor predictor, int callsPerThread)
    {
        var inputs = RandomInputs(16, predictor.InputShape, 3);
        var expected = inputs.Select(x => predictor.Predict(x)).ToArray();
        Assert.That(expected.Distinct(new ArrayComparer()).Count(), Is.EqualTo(inputs.Length), "different inputs give different outputs");

        var mismatches = new int[Threads];
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var output = new float[predictor.OutputShape.Size];
            start.SignalAndWait();
            for (int call = 0; call < callsPerThread; call++)
            {
                int i = (t * 5 + call) % inputs.Length;
                predictor.Predict(inputs[i], output);
                if (!output.AsSpan().SequenceEqual(expected[i])) mismatches[t]++;
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.That(mismatches, Is.All.Zero, "calls per thread whose output differed from the sequential one");
    }

    [Test]
    public void WrongSizesAreRefusedWithBothSizes()
    {
        using var backend = new CpuBackend(1);
        var predictor = new Predictor(ModelZoo.Create("lenet5"), backend, new Shape(1, 1, 28, 28));
        var e = Assert.Throws<ArgumentException>(() => predictor.Predict(new float[10]))!;
        Assert.That(e.Message, Does.Contain("expected 784 input values for shape (1,1,28,28), got 10"));
        e = Assert.Throws<ArgumentException>(() => predictor.Predict(new float[784], new float[3]))!;
        Assert.That(e.Message, Does.Contain("room for 10 output values of shape (1,10), got 3"));
    }

    private sealed class ArrayComparer : IEqualityComparer<float[]>
    {
        public bool Equals(float[]? x, float[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(float[] values) => values.Length == 0 ? 0 : values[0].GetHashCode();
    }
}
