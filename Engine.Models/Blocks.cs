using Engine.Nn;

namespace Engine.Models;

/// <summary>Building blocks shared by the zoo, with torchvision's submodule layout (so state_dict names match).</summary>
internal static class Blocks
{
    /// <summary>
    /// torchvision's Conv2dNormActivation: Sequential(conv (no bias), BatchNorm2d, activation), padding (k-1)/2.
    /// </summary>
    public static Sequential ConvBnAct(int inChannels, int outChannels, int kernel, int stride = 1, int groups = 1,
        Func<Module>? activation = null, float bnEps = 1e-5f)
    {
        var seq = new Sequential(
            new Conv2d(inChannels, outChannels, kernel, stride, (kernel - 1) / 2, groups: groups, bias: false),
            new BatchNorm2d(outChannels, bnEps));
        if (activation is not null) seq.Append(activation());
        return seq;
    }

    /// <summary>torchvision's _make_divisible: round to a multiple of divisor, never more than 10% below v.</summary>
    public static int MakeDivisible(double v, int divisor = 8)
    {
        int rounded = Math.Max(divisor, (int)(v + divisor / 2.0) / divisor * divisor);
        return rounded < 0.9 * v ? rounded + divisor : rounded;
    }
}

/// <summary>conv (no bias) + BatchNorm(eps 0.001) + ReLU, named conv/bn (torchvision's GoogLeNet BasicConv2d).</summary>
internal sealed class BasicConv2d : Module
{
    public BasicConv2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0)
    {
        Conv = AddModule("conv", new Conv2d(inChannels, outChannels, kernel, stride, padding, bias: false));
        Bn = AddModule("bn", new BatchNorm2d(outChannels, 1e-3f));
    }

    public Conv2d Conv { get; }
    public BatchNorm2d Bn { get; }
    protected override Tensor ForwardCore(Tensor x) => Ops.Relu(Bn.Forward(Conv.Forward(x)));
}
