namespace Engine.Nn;

/// <summary>Max pooling (PyTorch's nn.MaxPool2d); stride defaults to the kernel size.</summary>
public sealed class MaxPool2d(Size2 kernelSize, Size2? stride = null, Padding2d padding = default, Size2? dilation = null, bool ceilMode = false) : Module
{
    public Size2 KernelSize { get; } = kernelSize;
    public Size2 Stride { get; } = stride ?? kernelSize;
    public Padding2d Padding { get; } = padding;
    public Size2 Dilation { get; } = dilation ?? new Size2(1, 1);
    public bool CeilMode { get; } = ceilMode;

    public Pool2dGeometry Geometry(Shape input) => Ops.PoolGeometry(Check(input), KernelSize, Stride, Padding, Dilation, CeilMode);

    protected override Tensor ForwardCore(Tensor x) => Ops.MaxPool2d(x, Geometry(x.Shape), Describe());

    /// <summary>The output and the flat (h*W + w) input index of each maximum (as exact floats).</summary>
    public (Tensor Output, Tensor Indices) ForwardWithIndices(Tensor x) => Ops.MaxPool2dWithIndices(x, Geometry(x.Shape), Describe());

    private Shape Check(Shape s) => s.Rank == 4 ? s : throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {s}");
}

/// <summary>Average pooling (PyTorch's nn.AvgPool2d).</summary>
public sealed class AvgPool2d(Size2 kernelSize, Size2? stride = null, Padding2d padding = default, bool ceilMode = false,
    bool countIncludePad = true, int? divisorOverride = null) : Module
{
    public Size2 KernelSize { get; } = kernelSize;
    public Size2 Stride { get; } = stride ?? kernelSize;
    public Padding2d Padding { get; } = padding;
    public bool CeilMode { get; } = ceilMode;
    public bool CountIncludePad { get; } = countIncludePad;
    public int? DivisorOverride { get; } = divisorOverride is null or > 0 ? divisorOverride
        : throw new ArgumentException($"AvgPool2d: divisor override must be positive, got {divisorOverride}");

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        var g = Ops.PoolGeometry(x.Shape, KernelSize, Stride, Padding, null, CeilMode, CountIncludePad, DivisorOverride ?? 0);
        return Ops.AvgPool2d(x, g, Describe());
    }
}

/// <summary>Average pooling to a fixed output size (PyTorch's nn.AdaptiveAvgPool2d).</summary>
public class AdaptiveAvgPool2d(Size2 outputSize) : Module
{
    public Size2 OutputSize { get; } = outputSize;

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        return Ops.AvgPool2d(x, Pool2dGeometry.Adaptive(x.Shape, OutputSize), Describe());
    }
}

/// <summary>Max pooling to a fixed output size (PyTorch's nn.AdaptiveMaxPool2d).</summary>
public class AdaptiveMaxPool2d(Size2 outputSize) : Module
{
    public Size2 OutputSize { get; } = outputSize;

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        return Ops.MaxPool2d(x, Pool2dGeometry.Adaptive(x.Shape, OutputSize), Describe());
    }
}

/// <summary>Global average pooling: N x C x H x W to N x C x 1 x 1.</summary>
public sealed class GlobalAvgPool2d() : AdaptiveAvgPool2d(1);

/// <summary>Global max pooling: N x C x H x W to N x C x 1 x 1.</summary>
public sealed class GlobalMaxPool2d() : AdaptiveMaxPool2d(1);

/// <summary>Fractional max pooling to a fixed output size or ratio, seeded by the generator (PyTorch's nn.FractionalMaxPool2d).</summary>
public sealed class FractionalMaxPool2d : Module
{
    private readonly Generator? _generator;

    public FractionalMaxPool2d(Size2 kernelSize, Size2? outputSize = null, (double Height, double Width)? outputRatio = null, Generator? generator = null)
    {
        if ((outputSize is null) == (outputRatio is null))
            throw new ArgumentException("FractionalMaxPool2d: give exactly one of an output size and an output ratio");
        if (outputRatio is { } r && !(r.Height > 0 && r.Height < 1 && r.Width > 0 && r.Width < 1))
            throw new ArgumentException($"FractionalMaxPool2d: output ratios must be in (0, 1), got {r}");
        KernelSize = kernelSize;
        OutputSize = outputSize;
        OutputRatio = outputRatio;
        _generator = generator;
    }

    public Size2 KernelSize { get; }
    public Size2? OutputSize { get; }
    public (double Height, double Width)? OutputRatio { get; }

    public (Tensor Output, Tensor Indices) ForwardWithIndices(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        var size = OutputSize ?? new Size2((int)(x.Shape.Height * OutputRatio!.Value.Height), (int)(x.Shape.Width * OutputRatio.Value.Width));
        return Ops.FractionalMaxPool2d(x, KernelSize, size, _generator, Describe());
    }

    protected override Tensor ForwardCore(Tensor x) => ForwardWithIndices(x).Output;
}
