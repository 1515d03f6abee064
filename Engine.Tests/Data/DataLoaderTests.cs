using Engine.Data;
using NUnit.Framework;

namespace Engine.Tests.Data;

/// <summary>The loader with augmentation and prefetching: same batches as a plain loop, labels aligned, bounded queue.</summary>
public class DataLoaderTests
{
    private static readonly Engine.Cpu.CpuBackend Backend = new(1);

    /// <summary>N items of 2 x 4 x 4; item n holds values n*100 + position, label n mod 3.</summary>
    private static Dataset Data(int count)
    {
        var images = new float[count * 32];
        for (int i = 0; i < images.Length; i++) images[i] = i / 32 * 100 + i % 32;
        return new Dataset(images, Enumerable.Range(0, count).Select(n => n % 3).ToArray(), new Shape(2, 4, 4), 3);
    }

    private static Augmentation Pipeline() => new(new RandomCrop(1), new HorizontalFlip(), new RandomErasing(0.5f));

    [Test]
    public void BatchesHoldTheAugmentedSamplesOfTheEpochOrderWithTheirLabels()
    {
        var data = Data(11);
        var loader = new DataLoader(data, 4, shuffle: true, seed: 9) { Augmentation = Pipeline(), Prefetch = 2 };
        var g = ItemGeometry.Of(data.ItemShape);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var order = loader.Order(epoch);
            int position = 0;
            using var scope = Scope.Begin();
            foreach (var batch in loader.Batches(Backend, epoch))
            {
                var images = batch.Images.ToArray();
                var labels = batch.Labels.ToArray();
                for (int i = 0; i < batch.Count; i++, position++)
                {
                    int sample = order[position];
                    var expected = data.Images.AsSpan(sample * 32, 32).ToArray();
                    Pipeline().Apply(expected, g, 9, epoch, sample);
                    Assert.That(images.AsSpan(i * 32, 32).ToArray(), Is.EqualTo(expected), $"epoch {epoch}, batch item {i}");
                    Assert.That((batch.HostLabels[i], labels[i]), Is.EqualTo((data.Labels[sample], (float)data.Labels[sample])));
                }
            }
            Assert.That(position, Is.EqualTo(11));
        }
    }

    [Test]
    public void PrefetchingDoesNotChangeTheBatches()
    {
        var data = Data(10);
        List<float[]> Run(int prefetch) =>
            new DataLoader(data, 3, shuffle: true, seed: 2) { Augmentation = Pipeline(), Prefetch = prefetch }.HostBatches(3).Select(b => b.Images).ToList();
        var direct = Run(0);
        Assert.That(Run(1), Is.EqualTo(direct));
        Assert.That(Run(2), Is.EqualTo(direct));
    }

    /// <summary>
    /// The loader makes batches in host buffers it keeps for its next epoch; two enumerations of one loader at once
    /// (an epoch inside another's) must not share them: each sees its own epoch's batches, before and after, and the
    /// lent host labels of the last short batch are an array of its own length.
    /// </summary>
    [TestCase(0)]
    [TestCase(2)]
    public void NestedEnumerationsOfOneLoaderDoNotShareBuffers(int prefetch)
    {
        var data = Data(11);
        var loader = new DataLoader(data, 4, shuffle: true, seed: 3) { Augmentation = Pipeline(), Prefetch = prefetch };
        float[][] Images(int epoch) => [.. loader.HostBatches(epoch).Select(b => b.Images)];
        var expectedOuter = Images(0);
        var expectedInner = Images(1);
        int[][] expectedLabels = [.. loader.HostBatches(0).Select(b => b.Labels)];
        using var scope = Scope.Begin();
        int index = 0;
        foreach (var batch in loader.Batches(Backend, 0, 0, reuseHostLabels: true))
        {
            Assert.That(Images(1), Is.EqualTo(expectedInner), $"the inner epoch while the outer holds batch {index}");
            Assert.That(batch.Images.ToArray(), Is.EqualTo(expectedOuter[index]), $"outer batch {index}");
            Assert.That(batch.HostLabels, Is.EqualTo(expectedLabels[index]), $"outer batch {index}'s host labels, after the inner epoch");
            index++;
        }
        Assert.That(index, Is.EqualTo(3));
        Assert.That(Images(0), Is.EqualTo(expectedOuter), "the next epoch with the kept buffers");
    }

    /// <summary>Counts the items made and records the threads that made them.</summary>
    private sealed class Probe : ITransform
    {
        public int Made;
        public readonly System.Collections.Concurrent.ConcurrentBag<int> Threads = [];
        public int? FailAt;

        public void Apply(Span<float> item, ItemGeometry geometry, ref SampleRandom random)
        {
            Threads.Add(Environment.CurrentManagedThreadId);
            if (Interlocked.Increment(ref Made) == FailAt) throw new InvalidOperationException("probe failure");
        }
    }

    [Test]
    public void TheNextBatchIsMadeInTheBackgroundWithABoundedQueue()
    {
        var probe = new Probe();
        var loader = new DataLoader(Data(20), 1) { Augmentation = new Augmentation(probe), Prefetch = 1 };
        using var batches = loader.HostBatches(0).GetEnumerator();
        Assert.That(batches.MoveNext(), Is.True);
        SpinWait.SpinUntil(() => Volatile.Read(ref probe.Made) >= 2, TimeSpan.FromSeconds(5));
        Thread.Sleep(100);
        // One consumed, one queued, one made and waiting to be queued: never the whole epoch.
        Assert.That(Volatile.Read(ref probe.Made), Is.InRange(2, 3));
        Assert.That(probe.Threads, Does.Not.Contain(Environment.CurrentManagedThreadId), "made off the consumer's thread");
    }

    [Test]
    public void StoppingEarlyEndsTheProducerAndErrorsReachTheConsumer()
    {
        var probe = new Probe();
        var loader = new DataLoader(Data(50), 1) { Augmentation = new Augmentation(probe), Prefetch = 2 };
        Assert.That(loader.HostBatches(0).Take(2).Count(), Is.EqualTo(2));
        int made = Volatile.Read(ref probe.Made);
        Thread.Sleep(100);
        Assert.That(Volatile.Read(ref probe.Made), Is.EqualTo(made).And.LessThan(50), "the producer stopped with the consumer");

        var failing = new Probe { FailAt = 5 };
        var broken = new DataLoader(Data(50), 1) { Augmentation = new Augmentation(failing), Prefetch = 2 };
        var e = Assert.Throws<InvalidOperationException>(() => broken.HostBatches(0).ToList())!;
        Assert.That(e.Message, Is.EqualTo("probe failure"));
    }
}

/// <summary>The trainer consuming an augmented, prefetching loader: it learns, and two runs agree exactly.</summary>
public class AugmentedTrainingTests
{
    /// <summary>Two classes of 1 x 28 x 28: a bright bar in the top or the bottom half, at a random column.</summary>
    private static Dataset Bars(int count)
    {
        var rng = new System.Random(4);
        var images = new float[count * 784];
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            labels[n] = n % 2;
            int row = labels[n] == 0 ? rng.Next(3, 10) : rng.Next(18, 25), column = rng.Next(4, 20);
            for (int x = column; x < column + 6; x++) images[n * 784 + row * 28 + x] = 1f;
        }
        return new Dataset(images, labels, new Shape(1, 28, 28), 2);
    }

    private static (double Loss, double Accuracy)[] Train()
    {
        var backend = new Engine.Cpu.CpuBackend(2);
        var model = new Engine.Models.LeNet5(2, generator: new Generator(3));
        model.To(backend);
        var trainer = new Engine.Training.Trainer(model, new Engine.Optim.Sgd(model.Parameters(), 0.05f, momentum: 0.9f), backend);
        var loader = new DataLoader(Bars(128), 16, shuffle: true, seed: 5)
        {
            Augmentation = new Augmentation(new RandomCrop(2), new HorizontalFlip(), new RandomAffine(5, 0.05f)),
            Prefetch = 2,
        };
        return Enumerable.Range(0, 4).Select(e => trainer.TrainEpoch(loader, e)).Select(s => (s.Loss, s.Accuracy)).ToArray();
    }

    [Test]
    public void TrainsAndReproduces()
    {
        var first = Train();
        // Chance is 0.5; the loss must fall and the last epoch must be well above chance.
        Assert.That(first[^1].Loss, Is.LessThan(first[0].Loss - 0.05), string.Join(", ", first));
        Assert.That(first[^1].Accuracy, Is.GreaterThan(0.75), string.Join(", ", first));
        Assert.That(Train(), Is.EqualTo(first), "a second run with the same seeds");
    }
}
