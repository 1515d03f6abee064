using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Engine.Cuda;

namespace Engine.Bench.Gpu;

/// <summary>
/// A GPU benchmark: runs on <see cref="CudaBackend"/> ("cuda" by default; the dry-run test sets "cuda-emulated" with
/// tiny sizes). <see cref="WorkOf"/> is what one invocation of a method does (bytes moved, FLOPs or images) for the
/// rate and share-of-baseline columns. Each method ends with a device synchronisation, so it times the kernels.
/// </summary>
public abstract class GpuBench : IDisposable
{
    /// <summary>"cuda" (the GPU) or "cuda-emulated" (the PTX emulator, for the dry run only).</summary>
    public string Backend { get; set; } = "cuda";

    protected CudaBackend Cuda { get; private set; } = null!;

    /// <summary>Work of one invocation of <paramref name="method"/> with the current parameters, in <see cref="WorkUnit"/>.</summary>
    public abstract double WorkOf(string method);

    /// <summary>"B" (bytes: rate in GB/s), "FLOP" (GFLOP/s) or "image" (images/s).</summary>
    public abstract string WorkUnit { get; }

    protected void Open() => Cuda = CudaBackend.Create(Backend);

    protected void Synchronize() => Cuda.Driver.Synchronize();

    protected DeviceBuffer Filled(int length, float value)
    {
        var buffer = Cuda.Allocate(length);
        Cuda.Fill(buffer, value, length);
        return buffer;
    }

    [BenchmarkDotNet.Attributes.GlobalCleanup]
    public void Dispose()
    {
        Cuda?.Dispose();
        Cuda = null!;
        GC.SuppressFinalize(this);
    }

    /// <summary>Why the GPU benchmarks cannot run here (no driver, no device), or null when a device answers.</summary>
    public static string? UnavailableReason()
    {
        try
        {
            using var probe = CudaBackend.Create("cuda");
            return null;
        }
        catch (CudaException e)
        {
            return e.Message;
        }
    }

    /// <summary>Work per second (already scaled: GB/s, GFLOP/s or images/s) and the unit's name.</summary>
    public static (double Rate, string Unit) Rate(double work, string workUnit, double nanoseconds) => workUnit switch
    {
        "B" => (work / nanoseconds, "GB/s"),
        "FLOP" => (work / nanoseconds, "GFLOP/s"),
        _ => (work / nanoseconds * 1e9, $"{workUnit}s/s"),
    };

    /// <summary>A method's rate as a share of the baseline's (same work unit): 1 = as fast as cuMemcpyDtoD or cuBLAS.</summary>
    public static double Share(double work, double nanoseconds, double baselineWork, double baselineNanoseconds) =>
        work / nanoseconds / (baselineWork / baselineNanoseconds);
}

/// <summary>The rate (GB/s, GFLOP/s or images/s) of a <see cref="GpuBench"/> method from its median time, and its share of the class's baseline method.</summary>
public sealed class GpuRateColumn(bool share) : IColumn
{
    public string Id => share ? "GpuShare" : "GpuRate";
    public string ColumnName => share ? "Share of baseline" : "Rate";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => share ? 1 : 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => share
        ? "rate / the baseline's rate at the same parameters (cuMemcpyDtoD for bandwidth, the equivalent cuBLAS GEMM for convolution)"
        : "work per second from the median: GB/s (bytes read + written), GFLOP/s or images/s";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var (work, unit, median) = Measure(summary, benchmarkCase);
        if (median is null) return "-";
        if (!share) return $"{GpuBench.Rate(work, unit, median.Value).Rate:0.0} {GpuBench.Rate(work, unit, median.Value).Unit}";
        var baseline = summary.BenchmarksCases.FirstOrDefault(b => b.Descriptor.Baseline && b.Descriptor.Type == benchmarkCase.Descriptor.Type
            && b.Parameters.FolderInfo == benchmarkCase.Parameters.FolderInfo);
        if (baseline is null) return "-";
        var (baseWork, _, baseMedian) = Measure(summary, baseline);
        return baseMedian is null ? "-" : $"{GpuBench.Share(work, median.Value, baseWork, baseMedian.Value):P0}";
    }

    /// <summary>Work of the case (a fresh instance with the case's parameters) and its median time in ns.</summary>
    private static (double Work, string Unit, double? Median) Measure(Summary summary, BenchmarkCase benchmarkCase)
    {
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not GpuBench instance) return (0, "", null);
        foreach (var p in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetProperty(p.Name)?.SetValue(instance, p.Value);
        double? median = summary[benchmarkCase]?.ResultStatistics?.Median;
        return (instance.WorkOf(benchmarkCase.Descriptor.WorkloadMethod.Name), instance.WorkUnit, median);
    }
}

/// <summary>Adds the rate and share columns.</summary>
public sealed class GpuConfig : ManualConfig
{
    public GpuConfig()
    {
        AddColumn(new GpuRateColumn(share: false));
        AddColumn(new GpuRateColumn(share: true));
    }
}
