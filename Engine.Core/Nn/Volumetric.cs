namespace Engine.Nn;

/// <summary>3-D convolution (PyTorch's nn.Conv3d): weight (K, C/G, KD, KH, KW), bias (K).</summary>
public sealed class Conv3d : Module
{
    public Conv3d(int inChannels, int outChannels, Size3 kernelSize, Size3? stride = null, Size3 padding = default, Size3? dilation = null,
        int groups = 1, bool bias = true, Generator? generator = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv3d: in channels ({inChannels}) and out channels ({outChannels}) must be positive and divisible by groups ({groups})");
        InChannels = inChannels;
        Stride = stride ?? 1;
        Padding = padding;
        Dilation = dilation ?? 1;
        Groups = groups;
        var shape = new Shape(outChannels, inChannels / groups, kernelSize.Depth, kernelSize.Height, kernelSize.Width);
        int fanIn = shape.Size / outChannels;
        Weight = AddParameter("weight", shape, Init.KaimingUniform(shape.Size, fanIn, generator));
        if (bias) Bias = AddParameter("bias", new Shape(outChannels), Init.BiasUniform(outChannels, fanIn, generator));
    }

    public int InChannels { get; }
    public Size3 Stride { get; }
    public Size3 Padding { get; }
    public Size3 Dilation { get; }
    public int Groups { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 5 || x.Shape.Channels != InChannels)
            throw new ArgumentException($"{Describe()}: expected input with {InChannels} channels (N,{InChannels},D,H,W), got {x.Shape}");
        return Ops.Conv3d(x, Weight.Value, Bias?.Value, Stride, Padding, Dilation, Groups, Describe());
    }
}

public sealed class MaxPool3d(Size3 kernelSize, Size3? stride = null, Size3 padding = default, Size3? dilation = null, bool ceilMode = false) : Module
{
    protected override Tensor ForwardCore(Tensor x) =>
        Ops.Pool3d(x, true, kernelSize, stride ?? kernelSize, padding, dilation ?? 1, ceilMode, where: Describe());
}

public sealed class AvgPool3d(Size3 kernelSize, Size3? stride = null, Size3 padding = default, bool ceilMode = false, bool countIncludePad = true) : Module
{
    protected override Tensor ForwardCore(Tensor x) =>
        Ops.Pool3d(x, false, kernelSize, stride ?? kernelSize, padding, 1, ceilMode, countIncludePad, Describe());
}

public sealed class MaxPool1d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Pool1d(x, true, kernelSize, stride ?? kernelSize, padding, dilation, ceilMode, where: Describe());
}

public sealed class AvgPool1d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Pool1d(x, false, kernelSize, stride ?? kernelSize, padding, 1, ceilMode, countIncludePad, Describe());
}
