using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Bench;

/// <summary>A benchmark whose cases know their floating-point operation count (per invocation).</summary>
public interface IFlopCounted
{
    double FlopsOf(string caseName);
}

/// <summary>GFLOP/s from the median time: FLOPs of the case (the 'Case' parameter) / median.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "billions of floating-point operations per second (median time)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var instance = Activator.CreateInstance(benchmarkCase.Descriptor.Type) as IFlopCounted;
        var caseName = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Case")?.Value?.ToString();
        if (report?.ResultStatistics is null || instance is null || caseName is null) return "-";
        double flops = instance.FlopsOf(caseName);
        return flops > 0 ? (flops / report.ResultStatistics.Median).ToString("0.0") : "-";
    }
}

/// <summary>Adds the GFLOP/s column to a benchmark class.</summary>
public sealed class GflopsConfig : ManualConfig
{
    public GflopsConfig() => AddColumn(new GflopsColumn());
}
