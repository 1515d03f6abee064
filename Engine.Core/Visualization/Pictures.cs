using Engine.Imaging;
using Engine.Nn;

namespace Engine.Visualization;

/// <summary>How float planes become 8-bit pictures, and how pictures are laid out in a grid.</summary>
public static class Pictures
{
    /// <summary>
    /// One grey picture of an H x W plane mapped linearly from its own [min, max] to [0, 255] (a constant plane is
    /// mid-grey), enlarged <paramref name="scale"/> times by pixel repetition.
    /// </summary>
    public static Image Plane(ReadOnlySpan<float> plane, int height, int width, int scale = 1)
    {
        float low = float.PositiveInfinity, high = float.NegativeInfinity;
        foreach (float v in plane)
        {
            low = MathF.Min(low, v);
            high = MathF.Max(high, v);
        }
        return Enlarge(high > low ? Image.FromChw(plane, 1, height, width, low, high) : Image.FromChw(new float[plane.Length], 1, height, width, -1f, 1f), scale);
    }

    /// <summary>
    /// Signed values (C x H x W, C 1 or 3) mapped from [-limit, limit] to [0, 255], so 0 is mid-grey: how filters are
    /// drawn, with one limit for a whole layer so filters can be compared.
    /// </summary>
    public static Image Signed(ReadOnlySpan<float> chw, int channels, int height, int width, float limit, int scale = 1) =>
        Enlarge(Image.FromChw(chw, channels, height, width, -Math.Max(limit, 1e-12f), Math.Max(limit, 1e-12f)), scale);

    /// <summary>Each pixel repeated <paramref name="scale"/> x <paramref name="scale"/> times (nearest-neighbour enlargement).</summary>
    public static Image Enlarge(Image image, int scale)
    {
        if (scale < 1) throw new ArgumentException($"pictures: expected a scale of at least 1, got {scale}");
        if (scale == 1) return image;
        var result = new Image(image.Width * scale, image.Height * scale, image.Channels);
        for (int y = 0; y < result.Height; y++)
            for (int x = 0; x < result.Width; x++)
                for (int c = 0; c < image.Channels; c++)
                    result[y, x, c] = image[y / scale, x / scale, c];
        return result;
    }

    /// <summary>The enlargement that makes a side of <paramref name="size"/> pixels at least <paramref name="target"/> pixels.</summary>
    public static int ScaleFor(int size, int target = 48) => Math.Max(1, (target + size - 1) / size);

    /// <summary>
    /// Tiles (all of one size and channel count) in rows of <paramref name="columns"/>, separated by
    /// <paramref name="gap"/> pixels of white.
    /// </summary>
    public static Image Grid(IReadOnlyList<Image> tiles, int columns, int gap = 2)
    {
        if (tiles.Count == 0) throw new ArgumentException("pictures: expected at least one tile for a grid");
        if (columns < 1) throw new ArgumentException($"pictures: expected at least one column, got {columns}");
        var first = tiles[0];
        foreach (var t in tiles)
            if (t.Width != first.Width || t.Height != first.Height || t.Channels != first.Channels)
                throw new ArgumentException($"pictures: expected tiles of one size like the first ({first}), got {t}");
        columns = Math.Min(columns, tiles.Count);
        int rows = (tiles.Count + columns - 1) / columns;
        var grid = new Image(columns * (first.Width + gap) + gap, rows * (first.Height + gap) + gap, first.Channels);
        Array.Fill(grid.Pixels, (byte)255);
        for (int i = 0; i < tiles.Count; i++)
        {
            int top = gap + i / columns * (first.Height + gap), left = gap + i % columns * (first.Width + gap);
            for (int y = 0; y < first.Height; y++)
                tiles[i].Pixels.AsSpan(y * first.Width * first.Channels, first.Width * first.Channels)
                    .CopyTo(grid.Pixels.AsSpan(((top + y) * grid.Width + left) * first.Channels));
        }
        return grid;
    }

    /// <summary>Columns for a near-square grid of <paramref name="count"/> tiles.</summary>
    public static int SquareColumns(int count) => Math.Max(1, (int)Math.Ceiling(Math.Sqrt(count)));
}

/// <summary>Finding a layer of a model by its dotted name, and reading what it outputs.</summary>
public static class Layers
{
    /// <summary>The name that means the model's own output (its logits).</summary>
    public const string Output = "output";

    /// <summary>
    /// The module named <paramref name="name"/> ("features.3"); a parameter's state-dict name ("features.3.weight")
    /// names its module. An unknown name lists the known ones.
    /// </summary>
    public static Module Find(Module model, string name)
    {
        if (name is "" or Output) return model;
        var modules = model.Modules().ToList();
        var found = modules.FirstOrDefault(m => m.Path == name);
        if (found is null)
        {
            var owner = model.NamedState().FirstOrDefault(s => s.Name == name).Parameter?.Owner;
            found = owner;
        }
        return found ?? throw new ArgumentException(
            $"{model.Describe()}: no layer named '{name}'; layers: {string.Join(", ", modules.Where(m => m.Path.Length > 0).Select(m => $"{m.Path} ({m.TypeName})"))}, or '{Output}'");
    }

    /// <summary>
    /// Runs the model on <paramref name="input"/> and returns what <paramref name="layer"/> output (its first call),
    /// as a tensor in the caller's scope. With gradients on, the result is still part of the recorded graph.
    /// </summary>
    public static Tensor Capture(Module model, Module layer, Tensor input)
    {
        if (ReferenceEquals(model, layer)) return model.Forward(input);
        Tensor? captured = null;
        Module.Observe((m, y) =>
        {
            if (captured is null && ReferenceEquals(m, layer)) captured = Autograd.IsEnabled ? y : CopyOf(y);
        }, () => model.Forward(input));
        return captured ?? throw new InvalidOperationException($"{layer.Describe()} did not run in the forward pass of {model.Describe()}");
    }

    /// <summary>
    /// Like <see cref="Capture"/>, also returning the output of the module that finished just before
    /// <paramref name="layer"/> did (its input when the two run in sequence), or null.
    /// </summary>
    public static (Tensor Output, Tensor? Previous) CaptureWithPrevious(Module model, Module layer, Tensor input)
    {
        Tensor? captured = null, previous = null, last = null;
        Module.Observe((m, y) =>
        {
            if (captured is not null) return;
            if (ReferenceEquals(m, layer)) (captured, previous) = (y, last);
            else last = y;
        }, () => model.Forward(input));
        return (captured ?? throw new InvalidOperationException($"{layer.Describe()} did not run in the forward pass of {model.Describe()}"), previous);
    }

    /// <summary>Without gradients a Sequential releases intermediates as it goes: keep a copy of what was seen.</summary>
    private static Tensor CopyOf(Tensor y)
    {
        var copy = Tensor.Empty(y.Backend, y.Shape);
        copy.CopyFrom(y);
        return copy;
    }
}
