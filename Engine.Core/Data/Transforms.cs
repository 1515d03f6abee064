using System.Buffers;

namespace Engine.Data;

// Augmentation transforms on one C x H x W item (legend: C channels, H x W pixels, plane = H * W). Each draws its
// random numbers from the sample's stream in a fixed order, so the same (seed, epoch, sample) gives the same result.

/// <summary>
/// Random crop with padding: the item is padded by <see cref="Padding"/> pixels of <see cref="Fill"/> on every side
/// and an H x W window is cut at offset (dy, dx), each uniform in [0, 2 * padding]:
/// out[c, y, x] = in[c, y + dy - padding, x + dx - padding], or Fill outside the input.
/// </summary>
public sealed record RandomCrop(int Padding, float Fill = 0f) : ITransform
{
    public void Apply(Span<float> item, ItemGeometry g, ref SampleRandom random)
    {
        int dy = random.Below(2 * Padding + 1) - Padding, dx = random.Below(2 * Padding + 1) - Padding;
        Shift(item, g, dy, dx, Fill);
    }

    /// <summary>out[c, y, x] = in[c, y + dy, x + dx], or fill outside the input.</summary>
    public static void Shift(Span<float> item, ItemGeometry g, int dy, int dx, float fill)
    {
        if (dy == 0 && dx == 0) return;
        var source = ArrayPool<float>.Shared.Rent(g.Size);
        try
        {
            item.CopyTo(source);
            for (int c = 0; c < g.Channels; c++)
                for (int y = 0; y < g.Height; y++)
                {
                    var row = item.Slice(c * g.Plane + y * g.Width, g.Width);
                    int sy = y + dy;
                    if ((uint)sy >= (uint)g.Height)
                    {
                        row.Fill(fill);
                        continue;
                    }
                    for (int x = 0; x < g.Width; x++)
                    {
                        int sx = x + dx;
                        row[x] = (uint)sx < (uint)g.Width ? source[c * g.Plane + sy * g.Width + sx] : fill;
                    }
                }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(source);
        }
    }
}

/// <summary>With probability <see cref="Probability"/>, mirrors the item left to right: out[c, y, x] = in[c, y, W-1-x].</summary>
public sealed record HorizontalFlip(float Probability = 0.5f) : ITransform
{
    public void Apply(Span<float> item, ItemGeometry g, ref SampleRandom random)
    {
        if (!random.Chance(Probability)) return;
        for (int row = 0; row < g.Channels * g.Height; row++) item.Slice(row * g.Width, g.Width).Reverse();
    }
}

/// <summary>
/// A small random rotation and translation about the centre, bilinear: angle uniform in [-MaxDegrees, MaxDegrees],
/// shift uniform in [-MaxShift, MaxShift] times the width (x) and height (y). Output pixel p takes the input at
/// R(-angle) (p - centre - shift) + centre; points outside the input read <see cref="Fill"/>.
/// </summary>
public sealed record RandomAffine(float MaxDegrees, float MaxShift = 0f, float Fill = 0f) : ITransform
{
    public void Apply(Span<float> item, ItemGeometry g, ref SampleRandom random)
    {
        float angle = random.Uniform(-MaxDegrees, MaxDegrees) * MathF.PI / 180f;
        float tx = random.Uniform(-MaxShift, MaxShift) * g.Width, ty = random.Uniform(-MaxShift, MaxShift) * g.Height;
        Rotate(item, g, angle, tx, ty, Fill);
    }

    /// <summary>The affine map with a given angle (radians, counter-clockwise on screen) and shift.</summary>
    public static void Rotate(Span<float> item, ItemGeometry g, float angle, float tx, float ty, float fill)
    {
        float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
        float cx = (g.Width - 1) / 2f, cy = (g.Height - 1) / 2f;
        var source = ArrayPool<float>.Shared.Rent(g.Size);
        try
        {
            item.CopyTo(source);
            for (int y = 0; y < g.Height; y++)
                for (int x = 0; x < g.Width; x++)
                {
                    // Screen y points down, so a counter-clockwise rotation by a is (x, y) -> (x cos a + y sin a, -x sin a + y cos a); invert it.
                    float px = x - cx - tx, py = y - cy - ty;
                    float sx = cos * px - sin * py + cx, sy = sin * px + cos * py + cy;
                    for (int c = 0; c < g.Channels; c++)
                        item[c * g.Plane + y * g.Width + x] = Bilinear(source.AsSpan(c * g.Plane, g.Plane), g, sx, sy, fill);
                }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(source);
        }
    }

    /// <summary>plane at (sx, sy) interpolated between its four neighbours; neighbours outside read fill.</summary>
    private static float Bilinear(ReadOnlySpan<float> plane, ItemGeometry g, float sx, float sy, float fill)
    {
        int x0 = (int)MathF.Floor(sx), y0 = (int)MathF.Floor(sy);
        float wx = sx - x0, wy = sy - y0;
        float a = At(plane, g, x0, y0, fill), b = At(plane, g, x0 + 1, y0, fill);
        float c = At(plane, g, x0, y0 + 1, fill), d = At(plane, g, x0 + 1, y0 + 1, fill);
        float top = a + (b - a) * wx, bottom = c + (d - c) * wx;
        return top + (bottom - top) * wy;
    }

    private static float At(ReadOnlySpan<float> plane, ItemGeometry g, int x, int y, float fill) =>
        (uint)x < (uint)g.Width && (uint)y < (uint)g.Height ? plane[y * g.Width + x] : fill;
}

/// <summary>Per-channel (x - mean) / std as an augmentation step (for data sets kept in [0, 1]).</summary>
public sealed record Normalize(ChannelNormalization Normalization) : ITransform
{
    public void Apply(Span<float> item, ItemGeometry g, ref SampleRandom random) => Normalization.Apply(item, g.Plane);
}

/// <summary>
/// Random erasing (Zhong et al., 2017): with probability <see cref="Probability"/>, a rectangle of area
/// uniform in [MinArea, MaxArea] of the image and aspect ratio h/w log-uniform in [MinRatio, MaxRatio] is set
/// to <see cref="Value"/> on every channel; up to 10 draws are tried for a rectangle that fits.
/// </summary>
public sealed record RandomErasing(float Probability = 0.5f, float MinArea = 0.02f, float MaxArea = 0.33f, float MinRatio = 0.3f, float MaxRatio = 3.3f, float Value = 0f) : ITransform
{
    private const int Attempts = 10;

    public void Apply(Span<float> item, ItemGeometry g, ref SampleRandom random)
    {
        if (!random.Chance(Probability)) return;
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            float area = random.Uniform(MinArea, MaxArea) * g.Plane;
            float ratio = MathF.Exp(random.Uniform(MathF.Log(MinRatio), MathF.Log(MaxRatio)));
            int h = (int)MathF.Round(MathF.Sqrt(area * ratio)), w = (int)MathF.Round(MathF.Sqrt(area / ratio));
            if (h < 1 || w < 1 || h >= g.Height || w >= g.Width) continue;
            int top = random.Below(g.Height - h + 1), left = random.Below(g.Width - w + 1);
            Erase(item, g, top, left, h, w, Value);
            return;
        }
    }

    /// <summary>Sets rows [top, top+h) x columns [left, left+w) of every channel to value.</summary>
    public static void Erase(Span<float> item, ItemGeometry g, int top, int left, int h, int w, float value)
    {
        for (int c = 0; c < g.Channels; c++)
            for (int y = top; y < top + h; y++)
                item.Slice(c * g.Plane + y * g.Width + left, w).Fill(value);
    }
}
