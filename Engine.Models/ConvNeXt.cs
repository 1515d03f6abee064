using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// ConvNeXt-Tiny (Liu et al. 2022) in torchvision's layout: 4x4/4 patchify stem with LayerNorm2d, stages of
/// (3, 3, 9, 3) blocks at 96/192/384/768 channels with LayerNorm2d + 2x2/2 downsampling between them;
/// 28,589,128 parameters at 1000 classes.
/// </summary>
public sealed class ConvNeXt : Module
{
    public ConvNeXt(int numClasses = 1000, int inChannels = 3, int[]? depths = null, int[]? dims = null, float stochasticDepth = 0.1f, float layerScale = 1e-6f)
    {
        depths ??= [3, 3, 9, 3];
        dims ??= [96, 192, 384, 768];
        var features = new Sequential(new Sequential(new Conv2d(inChannels, dims[0], 4, 4), new LayerNorm2d(dims[0])));
        int total = depths.Sum(), blockId = 0;
        for (int stage = 0; stage < depths.Length; stage++)
        {
            var blocks = new Sequential();
            for (int i = 0; i < depths[stage]; i++, blockId++)
                blocks.Append(new CNBlock(dims[stage], layerScale, stochasticDepth * blockId / (total - 1f)));
            features.Append(blocks);
            if (stage + 1 < depths.Length)
                features.Append(new Sequential(new LayerNorm2d(dims[stage]), new Conv2d(dims[stage], dims[stage + 1], 2, 2)));
        }
        Features = AddModule("features", features);
        Classifier = AddModule("classifier", new Sequential(new LayerNorm2d(dims[^1]), new Flatten(1), new Linear(dims[^1], numClasses)));
    }

    public override string TypeName => "ConvNeXt";
    public Sequential Features { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var f = Features.Forward(x);
        return Classifier.Forward(Ops.AvgPool2d(f, Pool2dGeometry.Adaptive(f.Shape, 1), Describe()));
    }
}

/// <summary>
/// depthwise 7x7 - (to channels-last) LayerNorm - Linear 4x - GELU - Linear - (back) scaled by a learnable
/// layer scale (C,1,1), stochastic depth, plus the input.
/// </summary>
public sealed class CNBlock : Module
{
    public CNBlock(int dim, float layerScale, float stochasticDepth)
    {
        Block = AddModule("block", new Sequential(
            new Conv2d(dim, dim, 7, padding: 3, groups: dim),
            new Permute(0, 2, 3, 1),
            new LayerNorm(dim, 1e-6f),
            new Linear(dim, 4 * dim),
            new GELU(),
            new Linear(4 * dim, dim),
            new Permute(0, 3, 1, 2)));
        LayerScale = AddParameter("layer_scale", new Shape(dim, 1, 1), Init.Constant(dim, layerScale));
        Drop = AddModule("stochastic_depth", new StochasticDepth(stochasticDepth));
    }

    private Sequential Block { get; }
    private Parameter LayerScale { get; }
    private StochasticDepth Drop { get; }

    protected override Tensor ForwardCore(Tensor x) => Ops.Add(Drop.Forward(Ops.Multiply(LayerScale.Value, Block.Forward(x))), x);
}
