namespace Engine.Nn;

/// <summary>Convolution padding: explicit sizes per side, or 'same' / 'valid' resolved against the input.</summary>
public readonly record struct ConvPadding(Padding2d Explicit, bool Same = false)
{
    public static ConvPadding Valid => new(0);
    public static ConvPadding SameAsInput => new(0, Same: true);

    public static implicit operator ConvPadding(int all) => new(all);
    public static implicit operator ConvPadding((int Height, int Width) hw) => new(hw);
    public static implicit operator ConvPadding(Padding2d p) => new(p);

    /// <summary>"same" or "valid", as PyTorch's padding strings.</summary>
    public static implicit operator ConvPadding(string mode) => mode switch
    {
        "same" => SameAsInput,
        "valid" => Valid,
        _ => throw new ArgumentException($"padding: expected \"same\", \"valid\" or sizes, got \"{mode}\""),
    };

    public Padding2d Resolve(int height, int width, Size2 kernel, Size2 stride, Size2 dilation)
    {
        if (!Same) return Explicit;
        var (top, bottom) = Conv2dGeometry.SamePadding(height, kernel.Height, stride.Height, dilation.Height);
        var (left, right) = Conv2dGeometry.SamePadding(width, kernel.Width, stride.Width, dilation.Width);
        return new Padding2d(top, left, bottom, right);
    }

    public override string ToString() => Same ? "same" : Explicit.ToString();
}

/// <summary>
/// 2-D convolution (PyTorch's nn.Conv2d): weight (K, C/G, R, S) and bias (K), Kaiming-uniform initialized.
/// Non-zero padding modes pad explicitly and then convolve without padding, as PyTorch does.
/// </summary>
public sealed class Conv2d : Module
{
    public Conv2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, ConvPadding padding = default,
        Size2? dilation = null, int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, Generator? generator = null)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride ?? new Size2(1, 1);
        Padding = padding;
        Dilation = dilation ?? new Size2(1, 1);
        Groups = groups;
        PaddingMode = paddingMode;
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || kernelSize.Height <= 0 || kernelSize.Width <= 0 ||
            Stride.Height <= 0 || Stride.Width <= 0 || Dilation.Height <= 0 || Dilation.Width <= 0)
            throw new ArgumentException($"Conv2d: expected positive channels, groups, kernel size, stride and dilation, got in {inChannels}, out {outChannels}, groups {groups}, kernel {kernelSize}, stride {Stride}, dilation {Dilation}");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: in channels ({inChannels}) and out channels ({outChannels}) must both be divisible by groups ({groups})");
        if (padding.Same && (padding.Explicit != default))
            throw new ArgumentException("Conv2d: 'same' padding takes no explicit sizes");
        int fanIn = inChannels / groups * kernelSize.Height * kernelSize.Width;
        var shape = new Shape(outChannels, inChannels / groups, kernelSize.Height, kernelSize.Width);
        Weight = AddParameter("weight", shape, Init.KaimingUniform(shape.Size, fanIn, generator));
        if (bias) Bias = AddParameter("bias", new Shape(outChannels), Init.BiasUniform(outChannels, fanIn, generator));
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public Size2 KernelSize { get; }
    public Size2 Stride { get; }
    public ConvPadding Padding { get; }
    public Size2 Dilation { get; }
    public int Groups { get; }
    public PaddingMode PaddingMode { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4 || x.Shape.Channels != InChannels)
            throw new ArgumentException($"{Describe()}: expected input with {InChannels} channels (N,{InChannels},H,W), got {x.Shape}");
        var pad = Padding.Resolve(x.Shape.Height, x.Shape.Width, KernelSize, Stride, Dilation);
        if (PaddingMode != PaddingMode.Zeros && !pad.IsZero)
        {
            x = Ops.Pad2d(x, pad, PaddingMode, where: Describe());
            pad = 0;
        }
        return Ops.Conv2d(x, Weight.Value, Bias?.Value, Stride, pad, Dilation, Groups, Describe());
    }
}
