using System.Diagnostics;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

/// <summary>
/// At run time, not only by declaration: a CPU training run of the CLI, in its own process, never asks the dynamic
/// loader for a CUDA library. glibc's LD_DEBUG=libs logs every library the process looks for; the same run with
/// --backend cuda is the control that shows the log would name libcuda if it were loaded.
/// </summary>
[TestFixture]
[NonParallelizable]
public class NativeLoadingTests
{
    private static string LibrariesSearchedBy(string backend, DirectoryInfo directory)
    {
        string engine = Path.Combine(AppContext.BaseDirectory, "engine.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in new[] { engine, "train", "--backend", backend, "--epochs", "1", "--limit", "32", "--batch-size", "32",
                     "--out", Path.Combine(directory.FullName, backend + ".safetensors"), "--json" })
            start.ArgumentList.Add(arg);
        start.Environment["LD_DEBUG"] = "libs";
        start.Environment["LD_DEBUG_OUTPUT"] = Path.Combine(directory.FullName, backend + ".ld");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"engine train --backend {backend} did not finish in 2 minutes");
        }
        if (backend == "cpu") Assert.That(process.ExitCode, Is.Zero, $"train --backend cpu: {output.Result} {error.Result}");
        return string.Join("\n", directory.GetFiles(backend + ".ld*").Select(f => File.ReadAllText(f.FullName)));
    }

    [Test]
    public void TheCpuPathNeverLoadsACudaLibrary()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("LD_DEBUG is glibc's: this check runs on Linux");
        var directory = Directory.CreateTempSubdirectory("engine-native-");
        try
        {
            string cpu = LibrariesSearchedBy("cpu", directory);
            Assert.That(cpu, Does.Contain("find library="), "LD_DEBUG logged the CPU run's library searches");
            Assert.That(cpu, Does.Not.Contain("libcuda").And.Not.Contain("libcublas").And.Not.Contain("libnvrtc"),
                "train --backend cpu looked for a CUDA library");
            string cuda = LibrariesSearchedBy("cuda", directory);
            Assert.That(cuda, Does.Contain("libcuda"), "the control: train --backend cuda does look for libcuda");
        }
        finally { directory.Delete(recursive: true); }
    }
}
