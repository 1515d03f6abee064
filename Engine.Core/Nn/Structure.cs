namespace Engine.Nn;

public sealed class Identity : Module
{
    protected override Tensor ForwardCore(Tensor x) => x;
}

/// <summary>Channel dropout: whole (n, c) planes zeroed with probability p, the rest scaled by 1/(1-p).</summary>
public sealed class Dropout2d(float p = 0.5f, Generator? generator = null) : Module
{
    public float P { get; } = p >= 0f && p <= 1f ? p : throw new ArgumentException($"Dropout2d: expected a probability in [0, 1], got {p}");
    protected override Tensor ForwardCore(Tensor x) => Ops.Dropout2d(x, P, Training, generator);
}

/// <summary>Stochastic depth (torchvision, mode "row"): drops each sample's branch with probability p in training.</summary>
public sealed class StochasticDepth(float p, Generator? generator = null) : Module
{
    public float P { get; } = p >= 0f && p <= 1f ? p : throw new ArgumentException($"StochasticDepth: expected a probability in [0, 1], got {p}");
    protected override Tensor ForwardCore(Tensor x) => Ops.StochasticDepth(x, P, Training, generator);
}

/// <summary>Upsampling by an integer scale factor or to a fixed size (nearest, or bilinear with/without align corners).</summary>
public sealed class Upsample : Module
{
    public Upsample(float scaleFactor, ResizeMode mode = ResizeMode.Nearest, bool alignCorners = false)
    {
        if (!(scaleFactor > 0f)) throw new ArgumentException($"Upsample: expected a positive scale factor, got {scaleFactor}");
        ScaleFactor = scaleFactor;
        Mode = mode;
        AlignCorners = alignCorners;
    }

    public Upsample(Size2 size, ResizeMode mode = ResizeMode.Nearest, bool alignCorners = false)
    {
        Size = size;
        Mode = mode;
        AlignCorners = alignCorners;
    }

    public float? ScaleFactor { get; }
    public Size2? Size { get; }
    public ResizeMode Mode { get; }
    public bool AlignCorners { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        var size = Size ?? new Size2((int)MathF.Floor(x.Shape.Height * ScaleFactor!.Value), (int)MathF.Floor(x.Shape.Width * ScaleFactor.Value));
        return Ops.Resize2d(x, size.Height, size.Width, Mode, AlignCorners, Describe());
    }
}

public sealed class PixelShuffle(int upscaleFactor) : Module
{
    public int UpscaleFactor { get; } = upscaleFactor;
    protected override Tensor ForwardCore(Tensor x) => Ops.PixelShuffle(x, UpscaleFactor);
}

/// <summary>Explicit padding of H and W (ZeroPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d).</summary>
public class Pad2d(Padding2d padding, PaddingMode mode, float value = 0f) : Module
{
    public Padding2d Padding { get; } = padding;
    public PaddingMode Mode { get; } = mode;
    public float Value { get; } = value;
    protected override Tensor ForwardCore(Tensor x) => Ops.Pad2d(x, Padding, Mode, Value, Describe());
}

public sealed class ZeroPad2d(Padding2d padding) : Pad2d(padding, PaddingMode.Zeros);
public sealed class ConstantPad2d(Padding2d padding, float value) : Pad2d(padding, PaddingMode.Zeros, value);
public sealed class ReflectionPad2d(Padding2d padding) : Pad2d(padding, PaddingMode.Reflect);
public sealed class ReplicationPad2d(Padding2d padding) : Pad2d(padding, PaddingMode.Replicate);

/// <summary>
/// Inverse of max pooling given its indices: output size (H-1)*stride - 2*pad + kernel unless given.
/// </summary>
public sealed class MaxUnpool2d(Size2 kernelSize, Size2? stride = null, Size2 padding = default) : Module
{
    public Size2 KernelSize { get; } = kernelSize;
    public Size2 Stride { get; } = stride ?? kernelSize;
    public Size2 Padding { get; } = padding;

    protected override Tensor ForwardCore(Tensor x) =>
        throw new InvalidOperationException($"{Describe()}: needs the pooling indices; call Forward(x, indices)");

    public Tensor Forward(Tensor x, Tensor indices, Size2? outputSize = null)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        var size = outputSize ?? new Size2(
            (x.Shape.Height - 1) * Stride.Height - 2 * Padding.Height + KernelSize.Height,
            (x.Shape.Width - 1) * Stride.Width - 2 * Padding.Width + KernelSize.Width);
        return Ops.MaxUnpool2d(x, indices, size.Height, size.Width, Describe());
    }
}

/// <summary>Power-average pooling: (sum over the window of x^p)^(1/p), as PyTorch's LPPool2d.</summary>
public sealed class LPPool2d(float normType, Size2 kernelSize, Size2? stride = null, bool ceilMode = false) : Module
{
    public float NormType { get; } = normType > 0f ? normType : throw new ArgumentException($"LPPool2d: expected a positive norm type, got {normType}");
    public Size2 KernelSize { get; } = kernelSize;
    public Size2 Stride { get; } = stride ?? kernelSize;
    public bool CeilMode { get; } = ceilMode;

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4) throw new ArgumentException($"{Describe()}: expected an input (N,C,H,W), got {x.Shape}");
        var g = Ops.PoolGeometry(x.Shape, KernelSize, Stride, default, null, CeilMode, countIncludePad: true,
            divisorOverride: 1);
        // sum of x^p over each window (avg pooling with divisor 1), then the p-th root.
        var sum = Ops.AvgPool2d(Ops.Pow(x, NormType), g, Describe());
        return Ops.Pow(sum, 1f / NormType);
    }
}

/// <summary>Reorders axes (torchvision's ops.Permute): output axis i is input axis Axes[i].</summary>
public sealed class Permute(params int[] axes) : Module
{
    public int[] Axes { get; } = axes;
    protected override Tensor ForwardCore(Tensor x) => Ops.Permute(x, Axes);
}
