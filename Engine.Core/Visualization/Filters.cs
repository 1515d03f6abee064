using Engine.Imaging;
using Engine.Nn;

namespace Engine.Visualization;

/// <summary>
/// The learned filters of a convolution layer, weight (K, C/G, R, S), as one picture. With 3 input channels per
/// group each filter is one RGB tile; otherwise each filter is a row of grey tiles, one per input channel (at most
/// <see cref="MaxInputChannels"/>). One symmetric scale for the whole layer: 0 is mid-grey, the largest |w| is
/// black or white.
/// </summary>
public static class Filters
{
    public const int MaxInputChannels = 16;

    /// <summary>The weight named <paramref name="name"/> ("features.0.weight", or the layer "features.0").</summary>
    public static (string Name, float[] Values, Shape Shape) Weight(Module model, string name)
    {
        var state = model.NamedState().ToList();
        var entry = state.FirstOrDefault(s => s.Name == name || s.Name == name + ".weight");
        if (entry.Parameter is null)
        {
            var convs = state.Where(s => s.Parameter.Shape.Rank == 4 && s.Name.EndsWith(".weight", StringComparison.Ordinal)).Select(s => s.Name);
            throw new ArgumentException($"{model.Describe()}: no convolution weight named '{name}'; convolution weights: {string.Join(", ", convs)}");
        }
        if (entry.Parameter.Shape.Rank != 4)
            throw new ArgumentException($"{model.Describe()}: '{entry.Name}' has shape {entry.Parameter.Shape}; expected a convolution weight (K,C,R,S)");
        return (entry.Name, entry.Parameter.ToArray(), entry.Parameter.Shape);
    }

    /// <summary>The filters of the weight <paramref name="name"/> as one grid picture.</summary>
    public static Image Render(Module model, string name)
    {
        var (_, values, shape) = Weight(model, name);
        return Render(values, shape);
    }

    /// <summary>Filters (K x C x R x S values) as one grid picture.</summary>
    public static Image Render(ReadOnlySpan<float> weight, Shape shape)
    {
        int k = shape[0], c = shape[1], r = shape[2], s = shape[3], filter = c * r * s;
        float limit = 0f;
        foreach (float w in weight) limit = MathF.Max(limit, MathF.Abs(w));
        int scale = Pictures.ScaleFor(Math.Max(r, s), 24);
        var tiles = new List<Image>();
        if (c == 3)
        {
            for (int i = 0; i < k; i++) tiles.Add(Pictures.Signed(weight.Slice(i * filter, filter), 3, r, s, limit, scale));
            return Pictures.Grid(tiles, Pictures.SquareColumns(k));
        }
        int shown = Math.Min(c, MaxInputChannels);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < shown; j++)
                tiles.Add(Pictures.Signed(weight.Slice(i * filter + j * r * s, r * s), 1, r, s, limit, scale));
        return Pictures.Grid(tiles, shown == 1 ? Pictures.SquareColumns(k) : shown);
    }
}

/// <summary>
/// What a layer outputs for one input image: each channel of its (1, C, H, W) output as a grey tile scaled to its own
/// range; a (1, F) output is drawn as one row of F cells.
/// </summary>
public static class FeatureMaps
{
    /// <summary>The output of <paramref name="layer"/> for <paramref name="input"/> (1 x C x H x W), on the host, without gradients.</summary>
    public static (float[] Values, Shape Shape) Compute(Module model, string layer, Tensor input)
    {
        if (input.Rank != 4 || input.Shape.Batch != 1)
            throw new ArgumentException($"feature maps: expected one input image (1,C,H,W), got {input.Shape}");
        var target = Layers.Find(model, layer);
        model.Eval();
        using var noGrad = Autograd.NoGrad();
        using var scope = Scope.Begin();
        var y = Layers.Capture(model, target, input);
        return (y.ToArray(), y.Shape);
    }

    public static Image Render(Module model, string layer, Tensor input)
    {
        var (values, shape) = Compute(model, layer, input);
        return Render(values, shape);
    }

    /// <summary>The channels of a (1, C, H, W) or (1, F) output as a grid of tiles.</summary>
    public static Image Render(ReadOnlySpan<float> values, Shape shape)
    {
        if (shape.Rank == 2) return Pictures.Plane(values, 1, shape[1], Pictures.ScaleFor(1, 16));
        if (shape.Rank != 4) throw new ArgumentException($"feature maps: expected an output (1,C,H,W) or (1,F), got {shape}");
        int channels = shape.Channels, h = shape.Height, w = shape.Width, plane = h * w, scale = Pictures.ScaleFor(Math.Max(h, w), 48);
        var tiles = new List<Image>(channels);
        for (int c = 0; c < channels; c++) tiles.Add(Pictures.Plane(values.Slice(c * plane, plane), h, w, scale));
        return Pictures.Grid(tiles, Pictures.SquareColumns(channels));
    }
}
