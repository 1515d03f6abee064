using Engine;
using Engine.Cpu;
using Engine.Data;
using Engine.Models;
using Engine.Optim;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Tests.Cli;

/// <summary>
/// The C# example of README.md, compiled. <see cref="ReadmeExampleTests"/> checks that the README shows exactly
/// these lines and runs them.
/// </summary>
public static class ReadmeExample
{
    public static void Run()
    {
        using var backend = new CpuBackend(threads: 2);
        var (train, test) = Dataset.MnistFromDirectory("data/mnist-10k");
        var model = new LeNet5(numClasses: 10, inChannels: 1, generator: new Generator(seed: 1));
        model.To(backend);
        var optimizer = new Sgd(model.Parameters(), learningRate: 0.03f, momentum: 0.9f);
        var trainer = new Trainer(model, optimizer, backend);
        var batches = new DataLoader(train, batchSize: 64, shuffle: true, seed: 1);
        for (int epoch = 0; epoch < 5; epoch++)
        {
            var stats = trainer.TrainEpoch(batches, epoch);
            var eval = Trainer.Evaluate(model, new DataLoader(test, batchSize: 256), backend);
            Console.WriteLine($"epoch {epoch + 1}: train loss {stats.Loss:F4}, test accuracy {eval.Accuracy:P2}");
        }
        Checkpoint.Save("lenet5.safetensors", model, new CheckpointInfo("lenet5", NumClasses: 10, InChannels: 1));
    }
}
