using BenchmarkDotNet.Attributes;

namespace Engine.Bench.Gpu;

/// <summary>
/// Memory-bound kernels against cuMemcpyDtoD on the same length: the share column is the kernel's bandwidth
/// (bytes read + written per second) over the copy's, so 100% means the kernel streams as fast as the driver's copy.
/// </summary>
[Config(typeof(GpuConfig))]
public class ElementwiseBench : GpuBench
{
    private DeviceBuffer _a = null!, _b = null!, _y = null!, _bias = null!, _momentum = null!;

    /// <summary>Elements per buffer (16 Mi floats = 64 MiB: far beyond any L2).</summary>
    [Params(1 << 24)]
    public int Length { get; set; } = 1 << 24;

    /// <summary>Channels of the broadcast bias add (Length / Channels planes share each bias value).</summary>
    private const int Channels = 256;

    public override string WorkUnit => "B";

    /// <summary>Bytes read + written per element, times the length.</summary>
    public override double WorkOf(string method) => 4.0 * Length * method switch
    {
        nameof(Fill) => 1, // writes y
        nameof(MemcpyDtoD) or nameof(Relu) or nameof(Exp) or nameof(BiasAdd) => 2, // reads x, writes y (the bias stays cached)
        nameof(Add) => 3,
        nameof(SgdMomentum) => 5, // reads param, grad, momentum; writes param, momentum
        _ => throw new ArgumentException($"expected a method of {nameof(ElementwiseBench)}, got '{method}'"),
    };

    [GlobalSetup]
    public void Setup()
    {
        if (Length % Channels != 0) throw new ArgumentException($"expected a length divisible by {Channels}, got {Length}");
        Open();
        _a = Filled(Length, 0.5f);
        _b = Filled(Length, 0.25f);
        _y = Filled(Length, 0f);
        _momentum = Filled(Length, 0f);
        _bias = Filled(Channels, 0.1f);
        Synchronize();
    }

    [Benchmark(Baseline = true)]
    public void MemcpyDtoD()
    {
        Cuda.Copy(_a, 0, _y, 0, Length);
        Synchronize();
    }

    [Benchmark]
    public void Fill()
    {
        Cuda.Fill(_y, 1f, Length);
        Synchronize();
    }

    [Benchmark]
    public void Relu()
    {
        Cuda.Unary(UnaryOp.Relu, 0f, _a, _y, Length);
        Synchronize();
    }

    [Benchmark]
    public void Exp()
    {
        Cuda.Unary(UnaryOp.Exp, 0f, _a, _y, Length);
        Synchronize();
    }

    [Benchmark]
    public void Add()
    {
        var shape = new Shape(Length);
        Cuda.Binary(BinaryOp.Add, _a, shape, _b, shape, _y, shape);
        Synchronize();
    }

    /// <summary>y (planes x C x rest) = a + bias (C x 1): the broadcast path with its index table.</summary>
    [Benchmark]
    public void BiasAdd()
    {
        int rest = Length / Channels;
        Cuda.Binary(BinaryOp.Add, _a, new Shape(1, Channels, rest), _bias, new Shape(Channels, 1), _y, new Shape(1, Channels, rest));
        Synchronize();
    }

    [Benchmark]
    public void SgdMomentum()
    {
        Cuda.SgdStep(new SgdSettings(0.01f, 0.9f, 0f, 0f, Nesterov: false, FirstStep: false), _y, _b, _momentum, Length);
        Synchronize();
    }
}
