using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// U-Net (Ronneberger et al. 2015) with 'same' padding: an encoder of <c>depth</c> double-conv stages (width doubling
/// from <c>baseWidth</c>, 2x2 max-pool between), a bottleneck, a decoder of 2x2 transposed convolutions whose output
/// is concatenated with the encoder's skip, and a 1x1 convolution to <c>numClasses</c> output maps. Each double conv
/// is (3x3 conv, batch norm, ReLU) twice. Input sizes must be divisible by 2^depth.
/// </summary>
public sealed class UNet : Module
{
    public UNet(int numClasses = 1, int inChannels = 1, int depth = 4, int baseWidth = 64)
    {
        if (depth < 1 || baseWidth < 1) throw new ArgumentException($"U-Net: expected depth >= 1 and a positive base width, got {depth} and {baseWidth}");
        Depth = depth;
        var down = new Sequential();
        int channels = inChannels;
        for (int i = 0; i < depth; i++)
        {
            down.Append(DoubleConv(channels, baseWidth << i));
            channels = baseWidth << i;
        }
        Down = AddModule("down", down);
        Bottleneck = AddModule("bottleneck", DoubleConv(channels, baseWidth << depth));
        var upSample = new Sequential();
        var up = new Sequential();
        for (int i = depth - 1; i >= 0; i--)
        {
            upSample.Append(new ConvTranspose2d(baseWidth << (i + 1), baseWidth << i, 2, 2));
            up.Append(DoubleConv(baseWidth << (i + 1), baseWidth << i));
        }
        UpSample = AddModule("upsample", upSample);
        Up = AddModule("up", up);
        Head = AddModule("head", new Conv2d(baseWidth, numClasses, 1));
    }

    public int Depth { get; }
    public override string TypeName => "UNet";
    private Sequential Down { get; }
    private Sequential Bottleneck { get; }
    private Sequential UpSample { get; }
    private Sequential Up { get; }
    private Conv2d Head { get; }

    private static Sequential DoubleConv(int inChannels, int outChannels) => new(
        new Conv2d(inChannels, outChannels, 3, padding: "same", bias: false), new BatchNorm2d(outChannels), new ReLU(),
        new Conv2d(outChannels, outChannels, 3, padding: "same", bias: false), new BatchNorm2d(outChannels), new ReLU());

    protected override Tensor ForwardCore(Tensor x)
    {
        int factor = 1 << Depth;
        if (x.Rank != 4 || x.Shape.Height % factor != 0 || x.Shape.Width % factor != 0)
            throw new ArgumentException($"{Describe()}: expected input (N,C,H,W) with H and W divisible by {factor}, got {x.Shape}");
        return Head.Forward(Level(0, x));
    }

    /// <summary>
    /// Level <paramref name="level"/> of the U, recursively (the skip stays a local, no array per call): down-convolve,
    /// pool, run the levels below (the bottleneck under the last), upsample and convolve the concatenation.
    /// </summary>
    private Tensor Level(int level, Tensor x)
    {
        var skip = Down[level].Forward(x);
        var pooled = Ops.MaxPool2d(skip, Ops.PoolGeometry(skip.Shape, 2), Describe());
        var below = level == Depth - 1 ? Bottleneck.Forward(pooled) : Level(level + 1, pooled);
        int up = Depth - 1 - level;
        return Up[up].Forward(Ops.Concat([skip, UpSample[up].Forward(below)], 1));
    }
}
