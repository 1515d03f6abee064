using System.Text.Json;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>--backend on train and eval: the CUDA kernels on the PTX emulator reproduce the CPU run.</summary>
[TestFixture]
[NonParallelizable]
public sealed class CliBackendTests
{
    // The emulator is slow: 32 images in one batch, four epochs: each epoch is one SGD step, so each JSON line's
    // train loss is that step's loss.
    private static readonly string[] Quick = ["--epochs", "4", "--limit", "32", "--batch-size", "32", "--json"];

    /// <summary>
    /// Relative tolerance of the per-step losses. Both backends run the same graph; they differ only in GEMM
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
    public void EmulatedCudaTrainingGivesTheCpuLossAtEveryStep()
    {
        var cpu = Run(["train", "--backend", "cpu", "--out", PathOf("cpu.safetensors"), .. Quick]);
        var cuda = Run(["train", "--backend", "cuda-emulated", "--out", PathOf("cuda.safetensors"), .. Quick]);
        Assert.That(cpu.ExitCode, Is.Zero, cpu.Error);
        Assert.That(cuda.ExitCode, Is.Zero, cuda.Error);
        Assert.That(cuda.Lines, Has.Length.EqualTo(cpu.Lines.Length).And.Length.EqualTo(5), "one JSON line per epoch (that is per step), then the summary");
        for (int step = 0; step < cpu.Lines.Length - 1; step++)
        {
            var expected = JsonDocument.Parse(cpu.Lines[step]).RootElement;
            var actual = JsonDocument.Parse(cuda.Lines[step]).RootElement;
            foreach (var field in new[] { "train_loss", "test_loss" })
            {
                double e = expected.GetProperty(field).GetDouble(), a = actual.GetProperty(field).GetDouble();
                Assert.That(a, Is.EqualTo(e).Within(LossTolerance * Math.Abs(e)), $"step {step + 1} {field}: CPU {e:R}, emulated CUDA {a:R}");
            }
        }
        var losses = cpu.Lines[..^1].Select(line => JsonDocument.Parse(line).RootElement.GetProperty("train_loss").GetDouble()).ToArray();
        Assert.That(losses.Distinct().Count(), Is.EqualTo(losses.Length), "each step trains: the losses differ from step to step");

        var eval = Run("eval", "--backend", "cuda-emulated", "--model-file", PathOf("cpu.safetensors"), "--limit", "32", "--json");
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

    /// <summary>bench --backend cuda-emulated times a small case on the emulator (the run is short: --seconds 0 gives the 5 minimum runs).</summary>
    [Test]
    public void BenchRunsASmallCaseOnTheEmulator()
    {
        var run = Run("bench", "--backend", "cuda-emulated", "--case", "gemm_256", "--seconds", "0", "--json");
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        var line = JsonDocument.Parse(run.Lines.Single()).RootElement;
        Assert.That(line.GetProperty("case").GetString(), Is.EqualTo("gemm_256"));
        Assert.That(line.GetProperty("ms").GetDouble(), Is.GreaterThan(0));
        // both printed with 3 decimals: gflops is off by up to 0.0005, and ms's 0.0005 moves it by that share of ms
        double ms = line.GetProperty("ms").GetDouble(), gflops = 2.0 * 256 * 256 * 256 / ms / 1e6;
        Assert.That(line.GetProperty("gflops").GetDouble(), Is.EqualTo(gflops).Within(0.0005 + gflops * 0.0005 / ms + 1e-9), "GFLOP/s = 2 n^3 / time");
    }

    [Test]
    public void BenchRefusesALargeCaseOnTheEmulatorAndNamesTheSmallOnes()
    {
        var run = Run("bench", "--backend", "cuda-emulated", "--case", "resnet18_infer_b8_224");
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.Error, Does.Contain("too large for cuda-emulated").And.Contain("gemm_256").And.Contain("lenet5_train_b64"));
    }

    [Test]
    public void BenchOnNativeCudaWithoutADriverIsOneErrorLine()
    {
        var run = Run("bench", "--backend", "cuda", "--case", "gemm_256", "--seconds", "0");
        if (run.ExitCode == 0) Assert.Ignore("a CUDA driver is present here");
        Assert.That(run.ExitCode, Is.EqualTo(1));
        Assert.That(run.Error.Trim(), Does.StartWith("error: ").And.Contain("no CUDA driver found").And.Not.Contain("\n"));
    }

    [Test]
    public void BenchHelpNamesTheBackendsAndWarnsThatTheEmulatorIsSlow()
    {
        var run = Run("bench", "--help");
        Assert.That(run.ExitCode, Is.Zero, run.Error);
        string help = string.Join("\n", run.Lines);
        Assert.That(help, Does.Contain("--backend").And.Contain("cuda-emulated").And.Contain("only the small cases"));
    }

    [Test]
    public void UnknownBackendIsAUsageError()
    {
        var run = Run(["train", "--backend", "tpu", "--out", PathOf("x.safetensors"), .. Quick]);
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.Error, Does.Contain("backend").And.Contain("tpu"));
    }
}
