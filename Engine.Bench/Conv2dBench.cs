using BenchmarkDotNet.Attributes;
using Engine.Cpu;

namespace Engine.Bench;

/// <summary>The bench command's convolution cases: forward, and forward + backward data + backward weight.</summary>
[Config(typeof(GflopsConfig))]
public class Conv2dBench : IFlopCounted, IDisposable
{
    /// <summary>(N, C, H=W, K, kernel, stride, pad) of each case, as in docs/performance.md.</summary>
    private static readonly Dictionary<string, Conv2dGeometry> Cases = new()
    {
        ["conv_lenet_c1"] = Geometry(64, 1, 28, 6, 5, 1, 2),
        ["conv_lenet_c2"] = Geometry(64, 6, 14, 16, 5, 1, 0),
        ["conv_r18_stem"] = Geometry(8, 3, 224, 64, 7, 2, 3),
        ["conv_r18_l1"] = Geometry(8, 64, 56, 64, 3, 1, 1),
        ["conv_r18_l2"] = Geometry(8, 128, 28, 128, 3, 1, 1),
        ["conv_r18_l3"] = Geometry(8, 256, 14, 256, 3, 1, 1),
        ["conv_r18_l4"] = Geometry(8, 512, 7, 512, 3, 1, 1),
        ["conv_r50_1x1"] = Geometry(8, 256, 56, 64, 1, 1, 0),
    };

    private CpuBackend _backend = null!;
    private Conv2dGeometry _g;
    private DeviceBuffer _x = null!, _w = null!, _bias = null!, _y = null!, _dX = null!, _dW = null!, _dBias = null!;

    [Params("conv_lenet_c1", "conv_lenet_c2", "conv_r18_stem", "conv_r18_l1", "conv_r18_l2", "conv_r18_l3", "conv_r18_l4", "conv_r50_1x1")]
    public string Case { get; set; } = "conv_lenet_c1";

    [Params(2)]
    public int Threads { get; set; }

    /// <summary>FLOPs of one forward (the FwdBwd benchmark does three times as many).</summary>
    public double FlopsOf(string caseName) => 2.0 * Cases[caseName].Macs;

    private static Conv2dGeometry Geometry(int n, int c, int hw, int k, int kernel, int stride, int pad) =>
        new(n, c, hw, hw, k, kernel, stride, pad, 1);

    [GlobalSetup]
    public void Setup()
    {
        _g = Cases[Case];
        _backend = new CpuBackend(Threads);
        _x = Filled(_g.InputShape.Size, 0.5f);
        _w = Filled(_g.WeightShape.Size, 0.01f);
        _bias = Filled(_g.OutChannels, 0.1f);
        _y = Filled(_g.OutputShape.Size, 0f);
        _dX = Filled(_g.InputShape.Size, 0f);
        _dW = Filled(_g.WeightShape.Size, 0f);
        _dBias = Filled(_g.OutChannels, 0f);
    }

    private DeviceBuffer Filled(int length, float value)
    {
        var buffer = _backend.Allocate(length);
        _backend.Fill(buffer, value, length);
        return buffer;
    }

    [Benchmark]
    public void Forward() => _backend.Conv2d(_g, _x, _w, _bias, _y);

    /// <summary>Forward, then both gradients (the output stands in for dOutput). GFLOP/s column counts one forward: multiply by 3.</summary>
    [Benchmark]
    public void ForwardBackward()
    {
        _backend.Conv2d(_g, _x, _w, _bias, _y);
        _backend.Conv2dBackwardData(_g, _y, _w, _dX);
        _backend.Conv2dBackwardWeight(_g, _x, _y, _dW, _dBias);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _backend?.Dispose();
        GC.SuppressFinalize(this);
    }
}
