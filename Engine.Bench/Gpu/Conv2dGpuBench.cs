using BenchmarkDotNet.Attributes;

namespace Engine.Bench.Gpu;

/// <summary>
/// Convolution on the GPU against the cuBLAS GEMM it lowers to: per image, W (K x CRS) * columns (CRS x PQ), as one
/// strided-batched SGEMM over the batch with the weights shared. Every method does the same 2 N K PQ CRS FLOPs, so
/// the share column says what im2col/col2im and the bias cost on top of cuBLAS (100% = nothing).
/// </summary>
[Config(typeof(GpuConfig))]
public class Conv2dGpuBench : GpuBench
{
    /// <summary>(C, H=W, K, kernel, stride, pad) of each case: LeNet-5's two convolutions and ResNet-18's stages.</summary>
    private static readonly Dictionary<string, (int C, int Hw, int K, int Kernel, int Stride, int Pad)> Cases = new()
    {
        ["conv_lenet_c1"] = (1, 28, 6, 5, 1, 2),
        ["conv_lenet_c2"] = (6, 14, 16, 5, 1, 0),
        ["conv_r18_stem"] = (3, 224, 64, 7, 2, 3),
        ["conv_r18_l1"] = (64, 56, 64, 3, 1, 1),
        ["conv_r18_l2"] = (128, 28, 128, 3, 1, 1),
        ["conv_r18_l3"] = (256, 14, 256, 3, 1, 1),
        ["conv_r18_l4"] = (512, 7, 512, 3, 1, 1),
        ["conv_r50_1x1"] = (256, 56, 64, 1, 1, 0),
    };

    private Conv2dGeometry _g;
    private GemmGeometry _gemm;
    private DeviceBuffer _x = null!, _w = null!, _bias = null!, _y = null!, _dX = null!, _dW = null!, _columns = null!;

    [Params("conv_lenet_c1", "conv_lenet_c2", "conv_r18_stem", "conv_r18_l1", "conv_r18_l2", "conv_r18_l3", "conv_r18_l4", "conv_r50_1x1")]
    public string Case { get; set; } = "conv_lenet_c1";

    [Params(32)]
    public int Batch { get; set; } = 32;

    public override string WorkUnit => "FLOP";

    /// <summary>2 N K PQ CRS for each method (forward, either backward, and the GEMM alike).</summary>
    public override double WorkOf(string method) => 2.0 * Geometry().Macs;

    private Conv2dGeometry Geometry()
    {
        var (c, hw, k, kernel, stride, pad) = Cases.TryGetValue(Case, out var shape)
            ? shape : throw new ArgumentException($"expected a case among {string.Join(", ", Cases.Keys)}, got '{Case}'");
        return new Conv2dGeometry(Batch, c, hw, hw, k, kernel, stride, pad, 1);
    }

    [GlobalSetup]
    public void Setup()
    {
        _g = Geometry();
        int crs = _g.InChannels * _g.Kernel.Height * _g.Kernel.Width, pq = _g.OutHeight * _g.OutWidth;
        // y_n (K x PQ) = W (K x CRS) * columns_n (CRS x PQ), n < N: the product inside Conv2d, without im2col
        _gemm = new GemmGeometry(false, false, _g.OutChannels, pq, crs, _g.Batch, 0, (long)crs * pq, (long)_g.OutChannels * pq);
        Open();
        _x = Filled(_g.InputShape.Size, 0.5f);
        _w = Filled(_g.WeightShape.Size, 0.01f);
        _bias = Filled(_g.OutChannels, 0.1f);
        _y = Filled(_g.OutputShape.Size, 0f);
        _dX = Filled(_g.InputShape.Size, 0f);
        _dW = Filled(_g.WeightShape.Size, 0f);
        _columns = Filled(_g.Batch * crs * pq, 0.5f);
        Synchronize();
    }

    [Benchmark(Baseline = true)]
    public void EquivalentGemm()
    {
        Cuda.Gemm(_gemm, 1f, _w, _columns, 0f, _y);
        Synchronize();
    }

    [Benchmark]
    public void Forward()
    {
        Cuda.Conv2d(_g, _x, _w, _bias, _y);
        Synchronize();
    }

    /// <summary>dX from dY (the output buffer stands in for it: same shape, same cost).</summary>
    [Benchmark]
    public void BackwardData()
    {
        Cuda.Conv2dBackwardData(_g, _y, _w, _dX);
        Synchronize();
    }

    [Benchmark]
    public void BackwardWeight()
    {
        Cuda.Conv2dBackwardWeight(_g, _x, _y, _dW, null);
        Synchronize();
    }
}
