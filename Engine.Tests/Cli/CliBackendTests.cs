using System.Text.Json;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>--backend on train and eval: the CUDA kernels on the PTX emulator reproduce the CPU run.</summary>
[TestFixture]
[NonParallelizable]
public sealed class CliBackendTests
{
    // The emulator is slow: 64 images, batches of 32, two epochs (4 SGD steps).
    private static readonly string[] Quick = ["--epochs", "2", "--limit", "64", "--batch-size", "32", "--json"];

    /// <summary>
    /// Relative tolerance of the per-epoch losses. Both backends run the same graph; they differ only in GEMM
    /// summation order and in exp/log (a few ulp, see CudaAgreementTests), ~1e-6 relative per step at most
    /// (LeNet5TrainingStepsGiveTheCpuLosses). Measured on this run: 5.2e-8 relative (epoch 1 train loss), so 1e-5
    /// leaves a wide margin while still catching any wrong kernel (which moves a loss by far more).
    /// </summary>
    private const double LossTolerance = 1e-5;

    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-cli-backend-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private static (int ExitCode, string[] Lines, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), error.ToString());
    }

    [Test]
    public void EmulatedCudaTrainingGivesTheCpuLossesEveryEpoch()
    {
        var cpu = Run(["train", "--backend", "cpu", "--out", PathOf("cpu.safetensors"), .. Quick]);
        var cuda = Run(["train", "--backend", "cuda-emulated", "--out", PathOf("cuda.safetensors"), .. Quick]);
        Assert.That(cpu.ExitCode, Is.Zero, cpu.Error);
        Assert.That(cuda.ExitCode, Is.Zero, cuda.Error);
        Assert.That(cuda.Lines, Has.Length.EqualTo(cpu.Lines.Length).And.Length.EqualTo(3), "one JSON line per epoch, then the summary");
        for (int epoch = 0; epoch < cpu.Lines.Length - 1; epoch++)
        {
            var expected = JsonDocument.Parse(cpu.Lines[epoch]).RootElement;
            var actual = JsonDocument.Parse(cuda.Lines[epoch]).RootElement;
            foreach (var field in new[] { "train_loss", "test_loss" })
            {
                double e = expected.GetProperty(field).GetDouble(), a = actual.GetProperty(field).GetDouble();
                Assert.That(a, Is.EqualTo(e).Within(LossTolerance * Math.Abs(e)), $"epoch {epoch + 1} {field}: CPU {e:R}, emulated CUDA {a:R}");
            }
        }

        var eval = Run("eval", "--backend", "cuda-emulated", "--model-file", PathOf("cpu.safetensors"), "--limit", "64", "--json");
        Assert.That(eval.ExitCode, Is.Zero, eval.Error);
        double evalLoss = JsonDocument.Parse(eval.Lines[0]).RootElement.GetProperty("test_loss").GetDouble();
        double cpuLoss = JsonDocument.Parse(cpu.Lines[^2]).RootElement.GetProperty("test_loss").GetDouble();
        Assert.That(evalLoss, Is.EqualTo(cpuLoss).Within(LossTolerance * cpuLoss), "eval of the CPU-trained weights on the emulated CUDA backend");
    }

    /// <summary>This machine has no NVIDIA driver: one error line naming the cause, non-zero exit; a GPU machine skips.</summary>
    [Test]
    public void NativeCudaWithoutADriverIsOneErrorLine()
    {
        var run = Run(["train", "--backend", "cuda", "--out", PathOf("none.safetensors"), .. Quick]);
        if (run.ExitCode == 0) Assert.Ignore("a CUDA driver is present here");
        Assert.That(run.ExitCode, Is.EqualTo(1));
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), run.Error);
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain("no CUDA driver found"));
    }

    [Test]
    public void UnknownBackendIsAUsageError()
    {
        var run = Run(["train", "--backend", "tpu", "--out", PathOf("x.safetensors"), .. Quick]);
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.Error, Does.Contain("backend").And.Contain("tpu"));
    }
}
