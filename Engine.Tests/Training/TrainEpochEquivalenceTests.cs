using Engine.Cpu;
using Engine.Data;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Training;
using NUnit.Framework;

namespace Engine.Tests.Training;

/// <summary>
/// <see cref="Trainer.TrainEpoch"/> runs its steps in recycling scopes on the loader's reused buffers so that a step
/// allocates nothing; these tests pin that it computes bit for bit what the plain loop computes: fresh host arrays
/// per batch (made here from the data set, the epoch's order and the augmentation), a <see cref="Scope.Begin"/>
/// scope per step, the gradients clipped by the textbook joint norm, and the logits read with ToArray.
/// </summary>
[TestFixture]
public sealed class TrainEpochEquivalenceTests
{
    private static Dataset Synthetic(int count, Shape item, int classes)
    {
        var images = new Generator(11).Uniform(count * item.Size, -1f, 1f);
        var labels = Enumerable.Range(0, count).Select(i => i * 3 % classes).ToArray();
        return new Dataset(images, labels, item, classes);
    }

    /// <summary>The plain training loop: every batch's arrays made afresh, each step in a plain scope.</summary>
    private static List<(double Loss, double Accuracy)> PlainEpoch(Module model, Optimizer optimizer, IBackend backend, DataLoader loader, int epoch,
        float? clipNorm, LearningRateScheduler? scheduler)
    {
        model.Train();
        var order = loader.Order(epoch);
        var geometry = ItemGeometry.Of(loader.Dataset.ItemShape);
        var running = new List<(double, double)>();
        double lossSum = 0;
        int correct = 0, seen = 0;
        for (int b = 0; b < loader.BatchCount; b++)
        {
            using var scope = Scope.Begin();
            int start = b * loader.BatchSize, count = Math.Min(loader.BatchSize, order.Length - start);
            var pixels = new float[count * geometry.Size];
            var labels = new int[count];
            for (int i = 0; i < count; i++)
            {
                int sample = order[start + i];
                var target = pixels.AsSpan(i * geometry.Size, geometry.Size);
                loader.Dataset.Images.AsSpan(sample * geometry.Size, geometry.Size).CopyTo(target);
                loader.Augmentation?.Apply(target, geometry, loader.Seed, epoch, sample);
                labels[i] = loader.Dataset.Labels[sample];
            }
            var images = Tensor.FromArray(backend, pixels, new Shape(count, geometry.Channels, geometry.Height, geometry.Width));
            optimizer.ZeroGrad();
            var logits = model.Forward(images);
            var loss = Ops.CrossEntropy(logits, Tensor.FromArray(backend, labels.Select(l => (float)l).ToArray(), new Shape(count)));
            loss.Backward();
            if (clipNorm is { } maxNorm) ClipByJointNorm(optimizer.Parameters, maxNorm);
            optimizer.Step();
            scheduler?.Step();
            lossSum += loss.Item() * count;
            var values = logits.ToArray();
            int classes = logits.Shape[1];
            for (int n = 0; n < count; n++)
            {
                var row = values.AsSpan(n * classes, classes);
                int best = 0;
                for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
                if (best == labels[n]) correct++;
            }
            seen += count;
            running.Add((lossSum / seen, (double)correct / seen));
        }
        return running;
    }

    /// <summary>PyTorch's clip_grad_norm_ with the 2-norm: the squared norms summed in double in parameter order.</summary>
    private static void ClipByJointNorm(IReadOnlyList<Tensor> parameters, float maxNorm)
    {
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToList();
        double total = 0;
        using (Scope.Begin())
        using (Autograd.NoGrad())
            foreach (var g in grads) total += Ops.Sum(Ops.Pow(Ops.Abs(g), 2f)).Item();
        float factor = maxNorm / ((float)Math.Pow(total, 0.5) + 1e-6f);
        if (factor < 1f)
            foreach (var g in grads) g.Backend.Unary(UnaryOp.Scale, factor, g.Buffer, g.Buffer, g.Length);
    }

    private static (Module Model, Optimizer Optimizer, LearningRateScheduler? Scheduler) Create(string name, IBackend backend, string optimizerName, bool schedule)
    {
        var model = ModelZoo.Create(name, generator: new Generator(21));
        model.To(backend);
        Optimizer optimizer = optimizerName switch
        {
            "adamw" => new AdamW(model.Parameters(), 1e-3f),
            "rmsprop" => new RmsProp(model.Parameters(), 1e-3f, momentum: 0.5f, centered: true),
            _ => new Sgd(model.Parameters(), 0.05f, momentum: 0.9f),
        };
        return (model, optimizer, schedule ? new MultiStepLR(optimizer, [3, 6], 0.5f) : null);
    }

    /// <summary>
    /// Two epochs (a short last batch in each, shuffled, augmented and prefetched) give the same running loss and
    /// accuracy after every batch, the same epoch statistics and the same parameters as the plain loop, bit for bit,
    /// with recycling steps (the default) and with <see cref="Trainer.RecycleSteps"/> off.
    /// </summary>
    [TestCase("lenet5", 28, 16, false, false, "sgd", 1)]
    [TestCase("lenet5", 28, 16, true, true, "sgd", 2)]
    [TestCase("lenet5", 28, 16, true, false, "adamw", 2)]
    [TestCase("lenet5", 28, 16, false, true, "rmsprop", 2)]
    [TestCase("resnet20", 32, 8, true, true, "adamw", 2)]
    [TestCase("lenet5", 28, 16, true, true, "sgd", 2, false)]
    public void TrainEpochComputesWhatThePlainLoopComputes(string name, int size, int batch, bool clip, bool schedule, string optimizer, int threads,
        bool recycle = true)
    {
        using var backend = new CpuBackend(threads);
        var entry = ModelZoo.Find(name);
        var data = Synthetic(5 * batch + 3, new Shape(entry.DefaultChannels, size, size), 10);
        var loader = new DataLoader(data, batch, shuffle: true, seed: 4)
        {
            Augmentation = new Augmentation(new RandomCrop(2), new HorizontalFlip()),
            Prefetch = 1,
        };
        var plain = Create(name, backend, optimizer, schedule);
        var reusing = Create(name, backend, optimizer, schedule);
        float? clipNorm = clip ? 0.5f : null;
        var trainer = new Trainer(reusing.Model, reusing.Optimizer, backend) { ClipNorm = clipNorm, Scheduler = reusing.Scheduler, RecycleSteps = recycle };
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var expected = PlainEpoch(plain.Model, plain.Optimizer, backend, loader, epoch, clipNorm, plain.Scheduler);
            var running = new List<(double, double)>();
            var stats = trainer.TrainEpoch(loader, epoch, (_, s) => running.Add((s.Loss, s.Accuracy)));
            Assert.That(running, Is.EqualTo(expected), $"epoch {epoch}: running (loss, accuracy) after each batch");
            Assert.That((stats.Loss, stats.Accuracy, stats.Images), Is.EqualTo((expected[^1].Loss, expected[^1].Accuracy, data.Count)), $"epoch {epoch} statistics");
        }
        var expectedParameters = plain.Model.Parameters().Select(p => p.ToArray()).ToList();
        var parameters = reusing.Model.Parameters().Select(p => p.ToArray()).ToList();
        for (int i = 0; i < parameters.Count; i++)
            Assert.That(parameters[i], Is.EqualTo(expectedParameters[i]), $"parameter {i} after two epochs");
    }

    /// <summary>
    /// A tensor the per-batch callback makes is released when the callback returns (as when the callback ran inside
    /// the step's plain scope): used later it fails loudly instead of reading a recycled handle.
    /// </summary>
    [Test]
    public void ATensorMadeInTheCallbackIsReleasedWhenItReturns()
    {
        using var backend = new CpuBackend(1);
        var model = new LeNet5(10, generator: new Generator(2));
        model.To(backend);
        var trainer = new Trainer(model, new Sgd(model.Parameters(), 0.01f), backend);
        var loader = new DataLoader(Synthetic(40, new Shape(1, 28, 28), 10), 8);
        var made = new List<Tensor>();
        trainer.TrainEpoch(loader, 0, (_, s) => made.Add(Tensor.Full(backend, new Shape(2), (float)s.Loss)));
        Assert.That(made, Has.Count.EqualTo(loader.BatchCount));
        var e = Assert.Throws<ObjectDisposedException>(() => made[0].ToArray())!;
        Assert.That(e.Message, Does.Contain("used after it was released"));
    }
}
