using Engine.Cpu;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using Engine.Tests.Support;
using Engine.Training;
using NUnit.Framework;

namespace Engine.Tests.Serialization;

/// <summary>
/// A run interrupted at a checkpoint and resumed in fresh objects (other initial weights, a moved dropout
/// generator) ends bitwise identical to the run that never stopped: weights, buffers and optimizer state.
/// The model has dropout and the loader shuffles and augments, so every source of randomness is exercised.
/// </summary>
[TestFixture]
public sealed class TrainingCheckpointTests
{
    private const int Epochs = 3, BatchSize = 32, Images = 320;
    private const ulong DropoutSeed = 7, DataSeed = 5;

    private sealed class Interrupted : Exception;

    private DirectoryInfo _directory = null!;
    private CpuBackend _backend = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Directory.CreateTempSubdirectory("engine-resume-");
        _backend = new CpuBackend(2);
    }

    [TearDown]
    public void TearDown()
    {
        _backend.Dispose();
        _directory.Delete(recursive: true);
        Generator.Default.ManualSeed(0);
    }

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private static Module CreateModel(ulong initSeed)
    {
        var init = new Generator(initSeed);
        return new Sequential(
            new Conv2d(1, 4, 3, generator: init), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2), new Flatten(1),
            new Dropout(0.3f), new Linear(4 * 13 * 13, 10, generator: init));
    }

    private static DataLoader CreateLoader() => new(DataOptionsTake(TestData.MnistTrain, Images), BatchSize, shuffle: true, seed: DataSeed)
    {
        Augmentation = new Augmentation(new RandomCrop(2)),
    };

    private static Dataset DataOptionsTake(Dataset d, int count) =>
        new(d.Images[..(count * d.ItemShape.Size)], d.Labels[..count], d.ItemShape, d.Classes);

    private static Optimizer CreateOptimizer(string kind, Module model) => kind switch
    {
        "sgd" => new Sgd(model.Parameters(), 0.05f, momentum: 0.9f, weightDecay: 1e-4f),
        "adam" => new Adam(model.Parameters(), 1e-3f),
        "adamw" => new AdamW(model.Parameters(), 1e-3f),
        _ => new RmsProp(model.Parameters(), 1e-3f, momentum: 0.5f, centered: true),
    };

    private (Module Model, Optimizer Optimizer, StepLR Scheduler, Trainer Trainer) Start(string kind, ulong initSeed)
    {
        var model = CreateModel(initSeed).To(_backend);
        var optimizer = CreateOptimizer(kind, model);
        return (model, optimizer, new StepLR(optimizer, 2, 0.5f), new Trainer(model, optimizer, _backend));
    }

    /// <summary>Trains epochs [from.Epoch, Epochs), the first from batch from.Batch, stepping the scheduler per epoch.</summary>
    private static void Continue(Trainer trainer, StepLR scheduler, DataLoader loader, TrainingProgress from, Action<int, int>? afterBatch = null)
    {
        for (int epoch = from.Epoch; epoch < Epochs; epoch++)
        {
            trainer.TrainEpoch(loader, epoch, (batch, _) => afterBatch?.Invoke(epoch, batch), epoch == from.Epoch ? from.Batch : 0);
            scheduler.Step();
        }
    }

    private (Module, Optimizer) Uninterrupted(string kind)
    {
        Generator.Default.ManualSeed(DropoutSeed);
        var (model, optimizer, scheduler, trainer) = Start(kind, initSeed: 1);
        Continue(trainer, scheduler, CreateLoader(), new TrainingProgress(0, 0));
        return (model, optimizer);
    }

    /// <summary>Runs until <paramref name="stop"/>, saves there and "dies"; then resumes in new objects.</summary>
    private (Module, Optimizer) InterruptedAndResumed(string kind, TrainingProgress stop)
    {
        var path = PathOf($"{kind}.safetensors");
        Generator.Default.ManualSeed(DropoutSeed);
        var (model, optimizer, scheduler, trainer) = Start(kind, initSeed: 1);
        var info = new CheckpointInfo("tiny", 10, 1);
        Assert.Throws<Interrupted>(() => Continue(trainer, scheduler, CreateLoader(), new TrainingProgress(0, 0), (epoch, batch) =>
        {
            if (epoch != stop.Epoch || batch != stop.Batch) return;
            TrainingCheckpoint.Save(path, model, optimizer, scheduler, stop, info);
            throw new Interrupted();
        }));

        Generator.Default.ManualSeed(12345);
        var (fresh, freshOptimizer, freshScheduler, freshTrainer) = Start(kind, initSeed: 2);
        var progress = TrainingCheckpoint.Load(path).Restore(fresh, freshOptimizer, freshScheduler);
        Assert.That(progress, Is.EqualTo(stop));
        Continue(freshTrainer, freshScheduler, CreateLoader(), progress);
        return (fresh, freshOptimizer);
    }

    private static void AssertBitwiseEqual(Module expected, Optimizer expectedOptimizer, Module actual, Optimizer actualOptimizer)
    {
        var want = expected.StateDict();
        foreach (var (name, values) in actual.StateDict())
            Assert.That(Bits(values), Is.EqualTo(Bits(want[name])), name);
        var (a, b) = (expectedOptimizer.GetState(), actualOptimizer.GetState());
        Assert.That(b.StepCount, Is.EqualTo(a.StepCount));
        Assert.That(b.LearningRate, Is.EqualTo(a.LearningRate));
        Assert.That(b.ParameterSteps, Is.EqualTo(a.ParameterSteps));
        Assert.That(b.Tensors.Select(t => t.Key), Is.EqualTo(a.Tensors.Select(t => t.Key)));
        Assert.That(a.Tensors, Is.Not.Empty, "the optimizer has state to compare");
        for (int i = 0; i < a.Tensors.Count; i++)
            Assert.That(Bits(b.Tensors[i].Value.Values), Is.EqualTo(Bits(a.Tensors[i].Value.Values)), a.Tensors[i].Key);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    [TestCase("sgd", 1, 0, TestName = "Sgd momentum, after epoch 1")]
    [TestCase("sgd", 1, 4, TestName = "Sgd momentum, mid-epoch 1")]
    [TestCase("adam", 2, 0, TestName = "Adam, after epoch 2")]
    [TestCase("adam", 0, 7, TestName = "Adam, mid-epoch 0")]
    [TestCase("adamw", 1, 3, TestName = "AdamW, mid-epoch 1")]
    [TestCase("rmsprop", 1, 0, TestName = "RmsProp centered with momentum, after epoch 1")]
    public void ResumedRunEqualsUninterruptedBitwise(string kind, int epoch, int batch)
    {
        // "After epoch k" is the checkpoint taken after the last batch of epoch k-1, i.e. progress (k, 0) is
        // saved at (k-1, BatchCount); the trainer's callback sees batches 1..BatchCount.
        var stop = batch == 0 ? new TrainingProgress(epoch - 1, Images / BatchSize) : new TrainingProgress(epoch, batch);
        var (expected, expectedOptimizer) = Uninterrupted(kind);
        var (actual, actualOptimizer) = InterruptedAndResumed(kind, stop);
        AssertBitwiseEqual(expected, expectedOptimizer, actual, actualOptimizer);
    }

    [Test]
    public void TheSameRunWithoutRestoringTheGeneratorDiffers()
    {
        // Guards the test above: dropout does draw from the default generator, so its position matters.
        var (expected, _) = Uninterrupted("sgd");
        Generator.Default.ManualSeed(DropoutSeed + 1);
        var (model, _, scheduler, trainer) = Start("sgd", initSeed: 1);
        Continue(trainer, scheduler, CreateLoader(), new TrainingProgress(0, 0));
        Assert.That(model.StateDict()["6.weight"], Is.Not.EqualTo(expected.StateDict()["6.weight"]));
    }

    [Test]
    public void AWeightsOnlyCheckpointIsNotATrainingState()
    {
        var path = PathOf("weights.safetensors");
        Checkpoint.Save(path, CreateModel(1), new CheckpointInfo("tiny", 10, 1));
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path))!;
        Assert.That(e.Message, Does.Contain("weights only").And.Contain(path));
    }

    [Test]
    public void ATrainingCheckpointAlsoLoadsAsWeights()
    {
        var path = PathOf("full.safetensors");
        var (model, optimizer, scheduler, trainer) = Start("adam", initSeed: 1);
        trainer.TrainEpoch(CreateLoader(), 0);
        TrainingCheckpoint.Save(path, model, optimizer, scheduler, new TrainingProgress(1, 0), new CheckpointInfo("tiny", 10, 1));
        var fresh = CreateModel(3);
        Checkpoint.Load(path).LoadInto(fresh);
        Assert.That(fresh.StateDict()["6.weight"], Is.EqualTo(model.StateDict()["6.weight"]));
    }

    [Test]
    public void ResumingWithAnotherOptimizerNamesEveryDifference()
    {
        var path = PathOf("sgd.safetensors");
        var (model, optimizer, scheduler, trainer) = Start("sgd", initSeed: 1);
        trainer.TrainEpoch(CreateLoader(), 0);
        TrainingCheckpoint.Save(path, model, optimizer, scheduler, new TrainingProgress(1, 0), new CheckpointInfo("tiny", 10, 1));

        var (other, adam, adamScheduler, _) = Start("adam", initSeed: 1);
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path).Restore(other, adam, adamScheduler))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("the optimizer is Adam, the state is for Sgd").And.Contain("unexpected state tensor 'momentum_buffer.0'"));

        var differentMomentum = new Sgd(other.Parameters(), 0.05f, momentum: 0.8f, weightDecay: 1e-4f);
        e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path).Restore(other, differentMomentum, new StepLR(differentMomentum, 2, 0.5f)))!;
        Assert.That(e.Message, Does.Contain("momentum is 0.8 here, 0.9 in the state"));

        var noScheduler = new Sgd(other.Parameters(), 0.05f, momentum: 0.9f, weightDecay: 1e-4f);
        e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path).Restore(other, noScheduler))!;
        Assert.That(e.Message, Does.Contain("StepLR scheduler, the run has none"));
    }

    [Test]
    public void ResumingIntoAnotherModelListsTheMismatches()
    {
        var path = PathOf("model.safetensors");
        var (model, optimizer, scheduler, trainer) = Start("sgd", initSeed: 1);
        trainer.TrainEpoch(CreateLoader(), 0);
        TrainingCheckpoint.Save(path, model, optimizer, scheduler, new TrainingProgress(1, 0), new CheckpointInfo("tiny", 10, 1));

        var wider = new Sequential(new Conv2d(1, 5, 3), new BatchNorm2d(5), new ReLU(), new MaxPool2d(2), new Flatten(1), new Dropout(0.3f), new Linear(5 * 13 * 13, 10)).To(_backend);
        var sgd = new Sgd(wider.Parameters(), 0.05f, momentum: 0.9f, weightDecay: 1e-4f);
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path).Restore(wider, sgd, new StepLR(sgd, 2, 0.5f)))!;
        Assert.That(e.Message, Does.Contain("'0.weight' has shape (4,1,3,3), the model expects (5,1,3,3)")
            .And.Contain("'1.running_mean' has shape (4), the model expects (5)")
            .And.Contain("'6.weight' has shape (10,676), the model expects (10,845)"));
    }
}
