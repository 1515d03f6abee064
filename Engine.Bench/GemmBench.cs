using BenchmarkDotNet.Attributes;
using Engine.Cpu;

namespace Engine.Bench;

/// <summary>Square SGEMM C = A * B (the bench command's gemm_N cases), on the backend's worker pool.</summary>
[Config(typeof(GflopsConfig))]
public class GemmBench : IFlopCounted, IDisposable
{
    private CpuBackend _backend = null!;
    private DeviceBuffer _a = null!, _b = null!, _c = null!;

    [Params("256", "1024", "2048")]
    public string Case { get; set; } = "256";

    [Params(2)]
    public int Threads { get; set; }

    public double FlopsOf(string caseName) => 2.0 * Math.Pow(int.Parse(caseName), 3);

    [GlobalSetup]
    public void Setup()
    {
        int n = int.Parse(Case);
        _backend = new CpuBackend(Threads);
        _a = _backend.Allocate(n * n);
        _b = _backend.Allocate(n * n);
        _c = _backend.Allocate(n * n);
        _backend.Fill(_a, 0.5f, n * n);
        _backend.Fill(_b, 0.25f, n * n);
    }

    [Benchmark]
    public void Gemm()
    {
        int n = int.Parse(Case);
        _backend.Gemm(new GemmGeometry(false, false, n, n, n), 1f, _a, _b, 0f, _c);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _backend?.Dispose();
        GC.SuppressFinalize(this);
    }
}
