using Engine.Models;
using Engine.Optim;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

public partial class CudaAgreementTests
{
    /// <summary>
    /// The whole stack: LeNet-5 trained a few SGD-with-momentum steps on the same batch from the same initial
    /// weights gives the CPU's per-step losses (the only differences are GEMM summation order and exp/log).
    /// </summary>
    [Test]
    public void LeNet5TrainingStepsGiveTheCpuLosses()
    {
        var cpuLosses = TrainSteps(_cpu);
        var cudaLosses = TrainSteps(_cuda);
        for (int step = 0; step < cpuLosses.Length; step++)
            Assert.That(cudaLosses[step], Is.EqualTo(cpuLosses[step]).Within(1e-4).Percent, $"loss of step {step}");
        Assert.That(cpuLosses[^1], Is.LessThan(cpuLosses[0]), "training lowers the loss");
    }

    private static float[] TrainSteps(IBackend backend)
    {
        const int batch = 8, steps = 4;
        var model = new LeNet5(generator: new Generator(11)).To(backend);
        var optimizer = new Sgd(model.Parameters(), 0.05f, momentum: 0.9f);
        var images = Random(3, batch * 28 * 28, 0f, 1f);
        int[] labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        var losses = new float[steps];
        for (int step = 0; step < steps; step++)
        {
            using var scope = Scope.Begin();
            optimizer.ZeroGrad();
            var x = Tensor.FromArray(backend, images, new Shape(batch, 1, 28, 28));
            var loss = Ops.CrossEntropy(model.Forward(x), labels);
            loss.Backward();
            optimizer.Step();
            losses[step] = loss.Item();
        }
        return losses;
    }
}
