using Engine.Cpu;
using Engine.Cuda;

namespace Engine.Cli;

/// <summary>The --backend option of train and eval: the managed CPU backend, the CUDA backend, or CUDA on the PTX emulator.</summary>
public static class BackendOptions
{
    public const string Cpu = "cpu", Cuda = "cuda", CudaEmulated = "cuda-emulated";

    public static readonly OptionSpec Backend = new("backend", "NAME",
        $"{Cpu}, {Cuda} (needs an NVIDIA driver) or {CudaEmulated} (the CUDA kernels on the PTX emulator: slow, for checking)", Cpu);

    /// <summary>The chosen backend; --threads applies to the CPU backend only. A missing CUDA driver is one error line.</summary>
    public static IBackend Create(ParsedOptions options, int threads) =>
        Create(options.Choice(Backend.Name, Cpu, Cpu, Cuda, CudaEmulated), threads);

    /// <summary>The backend called <paramref name="name"/> (cpu, cuda or cuda-emulated).</summary>
    public static IBackend Create(string name, int threads = 0)
    {
        if (name == Cpu) return new CpuBackend(threads);
        if (name is not (Cuda or CudaEmulated))
            throw new UsageException($"--backend: expected one of {Cpu}, {Cuda}, {CudaEmulated}, got '{name}'");
        try
        {
            return CudaBackend.Create(name);
        }
        catch (CudaException e)
        {
            throw new InvalidOperationException($"--backend {name}: {e.Message}", e);
        }
    }

    /// <summary>"N threads" for the CPU backend, else the backend's name.</summary>
    public static string Describe(IBackend backend) => backend is CpuBackend cpu ? $"{cpu.Threads} threads" : backend.Name;
}
