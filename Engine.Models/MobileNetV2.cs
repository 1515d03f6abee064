using Engine.Nn;

namespace Engine.Models;

/// <summary>MobileNetV2 (Sandler et al. 2018) in torchvision's layout: 3,504,872 parameters at 1000 classes.</summary>
public sealed class MobileNetV2 : Module
{
    // expansion t, output channels c, repeats n, first stride s
    private static readonly (int T, int C, int N, int S)[] Settings =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

    public MobileNetV2(int numClasses = 1000, int inChannels = 3, float widthMult = 1f, float dropout = 0.2f)
    {
        int input = Blocks.MakeDivisible(32 * widthMult), last = Blocks.MakeDivisible(1280 * Math.Max(1f, widthMult));
        var features = new Sequential(Blocks.ConvBnAct(inChannels, input, 3, 2, activation: () => new ReLU6()));
        foreach (var (t, c, n, s) in Settings)
        {
            int output = Blocks.MakeDivisible(c * widthMult);
            for (int i = 0; i < n; i++)
            {
                features.Append(new InvertedResidual(input, output, i == 0 ? s : 1, t));
                input = output;
            }
        }
        features.Append(Blocks.ConvBnAct(input, last, 1, activation: () => new ReLU6()));
        Features = AddModule("features", features);
        Classifier = AddModule("classifier", new Sequential(new Dropout(dropout), new Linear(last, numClasses)));
    }

    public override string TypeName => "MobileNetV2";
    public Sequential Features { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var f = Features.Forward(x);
        return Classifier.Forward(Ops.Flatten(Ops.AvgPool2d(f, Pool2dGeometry.Adaptive(f.Shape, 1), Describe())));
    }
}

/// <summary>Expand (1x1), depthwise 3x3, project (1x1, linear); residual when stride 1 and channels match.</summary>
public sealed class InvertedResidual : Module
{
    private readonly bool _residual;

    public InvertedResidual(int input, int output, int stride, int expandRatio)
    {
        int hidden = (int)Math.Round((double)input * expandRatio);
        _residual = stride == 1 && input == output;
        var conv = new Sequential();
        if (expandRatio != 1) conv.Append(Blocks.ConvBnAct(input, hidden, 1, activation: () => new ReLU6()));
        conv.Append(Blocks.ConvBnAct(hidden, hidden, 3, stride, hidden, () => new ReLU6()));
        conv.Append(new Conv2d(hidden, output, 1, bias: false));
        conv.Append(new BatchNorm2d(output));
        Conv = AddModule("conv", conv);
    }

    private Sequential Conv { get; }
    protected override Tensor ForwardCore(Tensor x) => _residual ? Ops.Add(x, Conv.Forward(x)) : Conv.Forward(x);
}
