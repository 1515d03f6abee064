using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// EfficientNet B0-B7 (Tan and Le 2019) in torchvision's layout, scaled from B0 by the compound coefficients
/// (width, depth): channels rounded to multiples of 8, repeats ceil(n * depth). B0 has 5,288,548 parameters.
/// </summary>
public sealed class EfficientNet : Module
{
    // expand ratio, kernel, stride, input channels, output channels, layers (B0)
    private static readonly (int Expand, int Kernel, int Stride, int In, int Out, int Layers)[] Stages =
        [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
         (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)];

    /// <summary>(width, depth, dropout) of B0..B7.</summary>
    public static readonly (double Width, double Depth, float Dropout)[] Coefficients =
        [(1.0, 1.0, 0.2f), (1.0, 1.1, 0.2f), (1.1, 1.2, 0.3f), (1.2, 1.4, 0.3f), (1.4, 1.8, 0.4f), (1.6, 2.2, 0.4f), (1.8, 2.6, 0.5f), (2.0, 3.1, 0.5f)];

    public EfficientNet(int variant, int numClasses = 1000, int inChannels = 3, float stochasticDepth = 0.2f)
    {
        if (variant < 0 || variant > 7) throw new ArgumentException($"EfficientNet: expected variant B0 to B7, got B{variant}");
        Variant = variant;
        var (width, depth, dropout) = Coefficients[variant];
        float bnEps = variant >= 5 ? 1e-3f : 1e-5f;
        int Channels(int c) => Blocks.MakeDivisible(c * width);
        int Repeats(int n) => (int)Math.Ceiling(n * depth);
        var features = new Sequential(Blocks.ConvBnAct(inChannels, Channels(32), 3, 2, activation: () => new SiLU(), bnEps: bnEps));
        int total = Stages.Sum(s => Repeats(s.Layers)), blockId = 0;
        foreach (var st in Stages)
        {
            var stage = new Sequential();
            for (int i = 0; i < Repeats(st.Layers); i++)
            {
                int input = i == 0 ? Channels(st.In) : Channels(st.Out);
                stage.Append(new MBConv(input, Channels(st.Out), st.Expand, st.Kernel, i == 0 ? st.Stride : 1, stochasticDepth * blockId / total, bnEps));
                blockId++;
            }
            features.Append(stage);
        }
        int lastIn = Channels(Stages[^1].Out), lastOut = 4 * lastIn;
        features.Append(Blocks.ConvBnAct(lastIn, lastOut, 1, activation: () => new SiLU(), bnEps: bnEps));
        Features = AddModule("features", features);
        Classifier = AddModule("classifier", new Sequential(new Dropout(dropout), new Linear(lastOut, numClasses)));
    }

    public int Variant { get; }
    public override string TypeName => $"EfficientNet-B{Variant}";
    public Sequential Features { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var f = Features.Forward(x);
        return Classifier.Forward(Ops.Flatten(Ops.AvgPool2d(f, Pool2dGeometry.Adaptive(f.Shape, 1), Describe())));
    }
}

/// <summary>
/// Mobile inverted bottleneck with squeeze-and-excitation: [expand 1x1] - depthwise kxk - SE - project 1x1,
/// SiLU activations, stochastic depth on the residual branch.
/// </summary>
public sealed class MBConv : Module
{
    private readonly bool _residual;

    public MBConv(int input, int output, int expandRatio, int kernel, int stride, float stochasticDepth, float bnEps)
    {
        _residual = stride == 1 && input == output;
        int expanded = Blocks.MakeDivisible(input * expandRatio);
        var block = new Sequential();
        if (expanded != input) block.Append(Blocks.ConvBnAct(input, expanded, 1, activation: () => new SiLU(), bnEps: bnEps));
        block.Append(Blocks.ConvBnAct(expanded, expanded, kernel, stride, expanded, () => new SiLU(), bnEps));
        block.Append(new SqueezeExcitation(expanded, Math.Max(1, input / 4)));
        block.Append(Blocks.ConvBnAct(expanded, output, 1, bnEps: bnEps));
        Block = AddModule("block", block);
        Drop = AddModule("stochastic_depth", new StochasticDepth(stochasticDepth));
    }

    private Sequential Block { get; }
    private StochasticDepth Drop { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var y = Block.Forward(x);
        return _residual ? Ops.Add(Drop.Forward(y), x) : y;
    }
}

/// <summary>Squeeze-and-excitation (Hu et al.): x * sigmoid(fc2(silu(fc1(avgpool(x))))), fc as 1x1 convolutions.</summary>
public sealed class SqueezeExcitation : Module
{
    public SqueezeExcitation(int channels, int squeeze)
    {
        Fc1 = AddModule("fc1", new Conv2d(channels, squeeze, 1));
        Fc2 = AddModule("fc2", new Conv2d(squeeze, channels, 1));
    }

    private Conv2d Fc1 { get; }
    private Conv2d Fc2 { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var pooled = Ops.AvgPool2d(x, Pool2dGeometry.Adaptive(x.Shape, 1), Describe());
        return Ops.Multiply(x, Ops.Sigmoid(Fc2.Forward(Ops.Silu(Fc1.Forward(pooled)))));
    }
}
