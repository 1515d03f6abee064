using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// LeNet-5 as LeCun et al. (1998) built it, on 28 x 28 input padded by 2: tanh and average-pool subsampling,
/// C5 as a 5x5 convolution to 120 maps, then 84 and the classes (61,706 parameters for 10 classes).
/// </summary>
public sealed class LeNet5Classic : Module
{
    public LeNet5Classic(int numClasses = 10, int inChannels = 1)
    {
        Features = AddModule("features", new Sequential(
            new Conv2d(inChannels, 6, 5, padding: 2), new Tanh(), new AvgPool2d(2),
            new Conv2d(6, 16, 5), new Tanh(), new AvgPool2d(2),
            new Conv2d(16, 120, 5), new Tanh()));
        Classifier = AddModule("classifier", new Sequential(new Linear(120, 84), new Tanh(), new Linear(84, numClasses)));
    }

    public override string TypeName => "LeNet5Classic";
    public Sequential Features { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4 || x.Shape.Height != 28 || x.Shape.Width != 28)
            throw new ArgumentException($"{Describe()}: expected input (N,C,28,28), got {x.Shape}");
        return Classifier.Forward(Ops.Flatten(Features.Forward(x)));
    }
}

/// <summary>AlexNet as in torchvision (Krizhevsky et al. 2012, one-tower variant): 61,100,840 parameters at 1000 classes.</summary>
public sealed class AlexNet : Module
{
    public AlexNet(int numClasses = 1000, int inChannels = 3, float dropout = 0.5f)
    {
        Features = AddModule("features", new Sequential(
            new Conv2d(inChannels, 64, 11, 4, 2), new ReLU(), new MaxPool2d(3, 2),
            new Conv2d(64, 192, 5, padding: 2), new ReLU(), new MaxPool2d(3, 2),
            new Conv2d(192, 384, 3, padding: 1), new ReLU(),
            new Conv2d(384, 256, 3, padding: 1), new ReLU(),
            new Conv2d(256, 256, 3, padding: 1), new ReLU(), new MaxPool2d(3, 2)));
        Pool = AddModule("avgpool", new AdaptiveAvgPool2d(6));
        Classifier = AddModule("classifier", new Sequential(
            new Dropout(dropout), new Linear(256 * 6 * 6, 4096), new ReLU(),
            new Dropout(dropout), new Linear(4096, 4096), new ReLU(),
            new Linear(4096, numClasses)));
    }

    public override string TypeName => "AlexNet";
    public Sequential Features { get; }
    public AdaptiveAvgPool2d Pool { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x) => Classifier.Forward(Ops.Flatten(Pool.Forward(Features.Forward(x))));
}

/// <summary>VGG (Simonyan and Zisserman) in torchvision's layout, with or without batch norm.</summary>
public sealed class Vgg : Module
{
    private static readonly Dictionary<int, int[]> Configs = new()
    {
        [11] = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        [13] = [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        [16] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        [19] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    };

    /// <param name="depth">11, 13, 16 or 19 weight layers.</param>
    /// <param name="batchNorm">Batch norm after every convolution (torchvision's vgg*_bn).</param>
    /// <param name="numClasses">Outputs of the last linear layer.</param>
    /// <param name="inChannels">Channels of the input image.</param>
    /// <param name="dropout">Dropout probability before the first two linear layers.</param>
    public Vgg(int depth, bool batchNorm, int numClasses = 1000, int inChannels = 3, float dropout = 0.5f)
    {
        if (!Configs.TryGetValue(depth, out var config))
            throw new ArgumentException($"VGG: expected depth 11, 13, 16 or 19, got {depth}");
        Depth = depth;
        var features = new Sequential();
        int channels = inChannels;
        foreach (int width in config)
        {
            if (width == 0)
            {
                features.Append(new MaxPool2d(2, 2));
                continue;
            }
            features.Append(new Conv2d(channels, width, 3, padding: 1));
            if (batchNorm) features.Append(new BatchNorm2d(width));
            features.Append(new ReLU());
            channels = width;
        }
        Features = AddModule("features", features);
        Pool = AddModule("avgpool", new AdaptiveAvgPool2d(7));
        Classifier = AddModule("classifier", new Sequential(
            new Linear(512 * 7 * 7, 4096), new ReLU(), new Dropout(dropout),
            new Linear(4096, 4096), new ReLU(), new Dropout(dropout),
            new Linear(4096, numClasses)));
    }

    public int Depth { get; }
    public override string TypeName => "VGG";
    public Sequential Features { get; }
    public AdaptiveAvgPool2d Pool { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x) => Classifier.Forward(Ops.Flatten(Pool.Forward(Features.Forward(x))));
}
