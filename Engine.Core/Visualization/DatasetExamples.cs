using Engine.Data;
using Engine.Imaging;
using Engine.Nn;

namespace Engine.Visualization;

/// <summary>
/// The images of a data set that most activate one channel of a layer (Zeiler and Fergus 2014): every image is
/// scored by the channel's largest value over its feature map (or the feature's value for an (N, F) output), in
/// eval mode without gradients; the highest scores come first (ties: the lower index).
/// </summary>
public static class DatasetExamples
{
    public const int BatchSize = 128;

    public static IReadOnlyList<(int Index, float Score)> Top(Module model, string layer, int channel, Dataset data, IBackend backend, int count = 16)
    {
        if (count < 1) throw new ArgumentException($"dataset examples: expected a positive count, got {count}");
        var target = Layers.Find(model, layer);
        model.Eval();
        var scores = new float[data.Count];
        var loader = new DataLoader(data, BatchSize) { Prefetch = 0 };
        int offset = 0;
        using var noGrad = Autograd.NoGrad();
        foreach (var host in loader.HostBatches(0))
        {
            using var scope = Scope.Begin();
            var y = Layers.Capture(model, target, Tensor.FromArray(backend, host.Images, host.Shape));
            if (y.Rank < 2 || (uint)channel >= (uint)y.Shape.Channels)
                throw new ArgumentException($"dataset examples: {target.Describe()} outputs {y.Shape}; expected channel {channel} to be in [0, {(y.Rank >= 2 ? y.Shape.Channels : 0)})");
            var values = y.ToArray();
            int perImage = y.Length / host.Count, plane = perImage / y.Shape.Channels;
            for (int n = 0; n < host.Count; n++)
            {
                var map = values.AsSpan(n * perImage + channel * plane, plane);
                float best = float.NegativeInfinity;
                foreach (float v in map) best = MathF.Max(best, v);
                scores[offset + n] = best;
            }
            offset += host.Count;
        }
        return Enumerable.Range(0, data.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(count).Select(i => (i, scores[i])).ToList();
    }

    /// <summary>The images of <paramref name="indices"/> as a grid, each scaled to its own range.</summary>
    public static Image Render(Dataset data, IEnumerable<int> indices)
    {
        var shape = data.ItemShape;
        int item = shape.Size, scale = Pictures.ScaleFor(Math.Max(shape.Height, shape.Width), 56);
        var tiles = new List<Image>();
        foreach (int i in indices)
        {
            var pixels = data.Images.AsSpan(i * item, item);
            float low = float.PositiveInfinity, high = float.NegativeInfinity;
            foreach (float v in pixels)
            {
                low = MathF.Min(low, v);
                high = MathF.Max(high, v);
            }
            tiles.Add(Pictures.Enlarge(Image.FromChw(pixels, shape[0], shape.Height, shape.Width, low, Math.Max(high, low + 1e-6f)), scale));
        }
        return Pictures.Grid(tiles, Pictures.SquareColumns(tiles.Count));
    }
}
