namespace Engine.Nn;

/// <summary>
/// Transposed convolution (PyTorch's nn.ConvTranspose2d): weight (Cin, Cout/G, R, S), bias (Cout), initialized
/// like PyTorch (fan-in computed from weight dim 1: Cout/G * R * S).
/// </summary>
public sealed class ConvTranspose2d : Module
{
    public ConvTranspose2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Size2 padding = default,
        Size2 outputPadding = default, int groups = 1, bool bias = true, Size2? dilation = null, Generator? generator = null)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride ?? new Size2(1, 1);
        Padding = padding;
        OutputPadding = outputPadding;
        Dilation = dilation ?? new Size2(1, 1);
        Groups = groups;
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"ConvTranspose2d: in channels ({inChannels}) and out channels ({outChannels}) must be positive and divisible by groups ({groups})");
        if (outputPadding.Height >= Stride.Height && outputPadding.Height >= Dilation.Height ||
            outputPadding.Width >= Stride.Width && outputPadding.Width >= Dilation.Width)
            throw new ArgumentException($"ConvTranspose2d: output padding {outputPadding} must be smaller than either the stride {Stride} or the dilation {Dilation}");
        var shape = new Shape(inChannels, outChannels / groups, kernelSize.Height, kernelSize.Width);
        int fanIn = outChannels / groups * kernelSize.Height * kernelSize.Width;
        Weight = AddParameter("weight", shape, Init.KaimingUniform(shape.Size, fanIn, generator));
        if (bias) Bias = AddParameter("bias", new Shape(outChannels), Init.BiasUniform(outChannels, fanIn, generator));
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public Size2 KernelSize { get; }
    public Size2 Stride { get; }
    public Size2 Padding { get; }
    public Size2 OutputPadding { get; }
    public Size2 Dilation { get; }
    public int Groups { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4 || x.Shape.Channels != InChannels)
            throw new ArgumentException($"{Describe()}: expected input with {InChannels} channels (N,{InChannels},H,W), got {x.Shape}");
        return Ops.ConvTranspose2d(x, Weight.Value, Bias?.Value, Stride, Padding, OutputPadding, Dilation, Groups, Describe());
    }
}

/// <summary>
/// 1-D convolution on (N, C, L) with PyTorch's parameter shapes (weight (K, C/G, k)), run as a 2-D convolution
/// over (N, C, 1, L).
/// </summary>
public sealed class Conv1d : Module
{
    public Conv1d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        int groups = 1, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros, Generator? generator = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || kernelSize <= 0 || stride <= 0 || dilation <= 0 || padding < 0)
            throw new ArgumentException($"Conv1d: expected positive channels, groups, kernel size, stride and dilation, got in {inChannels}, out {outChannels}, groups {groups}, kernel {kernelSize}, stride {stride}, dilation {dilation}");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv1d: in channels ({inChannels}) and out channels ({outChannels}) must both be divisible by groups ({groups})");
        InChannels = inChannels;
        Stride = stride;
        Padding = padding;
        Dilation = dilation;
        Groups = groups;
        PaddingMode = paddingMode;
        int fanIn = inChannels / groups * kernelSize;
        var shape = new Shape(outChannels, inChannels / groups, kernelSize);
        Weight = AddParameter("weight", shape, Init.KaimingUniform(shape.Size, fanIn, generator));
        if (bias) Bias = AddParameter("bias", new Shape(outChannels), Init.BiasUniform(outChannels, fanIn, generator));
    }

    public int InChannels { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int Dilation { get; }
    public int Groups { get; }
    public PaddingMode PaddingMode { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 3 || x.Shape.Channels != InChannels)
            throw new ArgumentException($"{Describe()}: expected input with {InChannels} channels (N,{InChannels},L), got {x.Shape}");
        var w = Weight.Value;
        var planes = Ops.Reshape(x, new Shape(x.Shape[0], x.Shape[1], 1, x.Shape[2]));
        Padding2d pad = new(0, Padding, 0, Padding);
        if (PaddingMode != PaddingMode.Zeros && Padding > 0)
        {
            planes = Ops.Pad2d(planes, pad, PaddingMode, where: Describe());
            pad = 0;
        }
        var kernel = Ops.Reshape(w, new Shape(w.Shape[0], w.Shape[1], 1, w.Shape[2]));
        var y = Ops.Conv2d(planes, kernel, Bias?.Value, new Size2(1, Stride), pad, new Size2(1, Dilation), Groups, Describe());
        return Ops.Reshape(y, new Shape(y.Shape[0], y.Shape[1], y.Shape[3]));
    }
}
