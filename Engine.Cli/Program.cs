using Engine;
using Engine.Cpu;
using Engine.Data;
using Engine.Models;
using Engine.Optim;
using Engine.Training;

if (args.Length > 0 && args[0] == "bench") return Engine.Cli.BenchCommand.Run(args[1..]);

Generator.Default.ManualSeed(1);
var backend = new CpuBackend(int.Parse(args.Length > 0 ? args[0] : "2"));
var (train, test) = Dataset.MnistFromDirectory("data/mnist-10k");
var model = new LeNet5();
model.To(backend);
var opt = new Sgd(model.Parameters(), 0.05f, momentum: 0.9f);
var trainer = new Trainer(model, opt, backend);
for (int e = 0; e < 5; e++)
{
    var s = trainer.TrainEpoch(new DataLoader(train, 64, shuffle: true, seed: 1), e);
    var t = Trainer.Evaluate(model, new DataLoader(test, 256), backend);
    Console.WriteLine($"epoch {e + 1}: loss {s.Loss:F4} acc {s.Accuracy:P2} {s.ImagesPerSecond:F0} img/s; test {t.Loss:F4} {t.Accuracy:P2}");
}
return 0;
