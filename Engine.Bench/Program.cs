using BenchmarkDotNet.Running;
using Engine.Bench.Gpu;

// dotnet run -c Release --project Engine.Bench -- --filter '*Gemm*'   (or '*Conv2d*', '*LeNet*', '*Gpu*', '*')
// The GPU benchmarks (Engine.Bench.Gpu) need an NVIDIA driver and device; without one they are left out, and said so.
var types = typeof(Engine.Bench.GemmBench).Assembly.GetTypes()
    .Where(t => t.IsPublic && !t.IsAbstract && t.GetMethods().Any(m => m.IsDefined(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false)))
    .ToList();
string? unavailable = GpuBench.UnavailableReason();
if (unavailable is not null)
{
    Console.WriteLine($"GPU benchmarks skipped ({string.Join(", ", types.Where(t => t.IsSubclassOf(typeof(GpuBench))).Select(t => t.Name))}): {unavailable}");
    types.RemoveAll(t => t.IsSubclassOf(typeof(GpuBench)));
}
BenchmarkSwitcher.FromTypes([.. types]).Run(args);
