using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// A small VGG-style network for 28 x 28 (or 32 x 32) images such as Fashion-MNIST: two blocks of two 3x3
/// convolutions (each with batch norm and ReLU) and a 2x2 max-pool, widths <c>w</c> and 2w; adaptive average
/// pooling to 7 x 7 (the identity at 28 x 28); then dropout, linear 2w*49 -> hidden, ReLU, dropout, linear to the
/// classes. With w = 32 and hidden 256: 7x7 maps of 64 channels, 870,826 parameters for 1 channel and 10 classes.
/// </summary>
public sealed class SmallVgg : Module
{
    public SmallVgg(int numClasses = 10, int inChannels = 1, int width = 32, int hidden = 256, float dropout = 0.3f)
    {
        Sequential Block(int input, int output) => new(
            new Conv2d(input, output, 3, padding: 1, bias: false), new BatchNorm2d(output), new ReLU(),
            new Conv2d(output, output, 3, padding: 1, bias: false), new BatchNorm2d(output), new ReLU(),
            new MaxPool2d(2));
        Features = AddModule("features", new Sequential(Block(inChannels, width), Block(width, 2 * width)));
        Pool = AddModule("avgpool", new AdaptiveAvgPool2d(7));
        Classifier = AddModule("classifier", new Sequential(
            new Dropout(dropout), new Linear(2 * width * 7 * 7, hidden), new ReLU(),
            new Dropout(dropout), new Linear(hidden, numClasses)));
    }

    public override string TypeName => "SmallVgg";
    public Sequential Features { get; }
    public AdaptiveAvgPool2d Pool { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x) => Classifier.Forward(Ops.Flatten(Pool.Forward(Features.Forward(x))));
}
