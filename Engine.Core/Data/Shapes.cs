namespace Engine.Data;

/// <summary>The figures <see cref="ShapesSource"/> draws.</summary>
public enum ShapeKind { Circle, Rectangle, Triangle, Ellipse }

/// <summary>
/// A generated segmentation data set: 1 to <see cref="MaxShapes"/> filled figures (circles, rectangles, triangles,
/// rotated ellipses) on a noisy background, made on demand. Sample i is drawn from a Philox stream keyed by
/// (seed, stream, first + i), so it is the same on every call and every machine; different streams (train,
/// test) never share samples.
/// <para>
/// Background: a level b ~ U(0.1, 0.4) plus a linear ramp of up to ±0.15 across the image in each direction. Each
/// figure is filled with the background's value at its centre plus U(0.25, 0.45): brighter than the background
/// around it, but not above one global threshold (a bright background can outshine a figure elsewhere), so the
/// network has to compare a pixel with its surroundings. Then Gaussian noise with standard deviation
/// U(0.04, 0.12) is added to every pixel and values are clamped to [0, 1]. A pixel is foreground when its centre
/// lies inside any figure; the image shows exactly the same pixels.
/// </para>
/// </summary>
public sealed class ShapesSource : ISegmentationSource
{
    public const int MaxShapes = 3;

    public ShapesSource(int count, int size = 64, ulong seed = 1, int stream = 0, int first = 0)
    {
        if (count <= 0) throw new ArgumentException($"shapes: expected a positive sample count, got {count}");
        if (size < 16) throw new ArgumentException($"shapes: expected an image size of at least 16 pixels, got {size}");
        Count = count;
        Size = size;
        Seed = seed;
        Stream = stream;
        First = first;
    }

    public int Count { get; }
    public int Size { get; }
    public ulong Seed { get; }
    public int Stream { get; }
    public int First { get; }
    public Shape ItemShape => new(1, Size, Size);

    /// <summary>The samples of the same stream that follow this source's (the next epoch's fresh data).</summary>
    public ShapesSource Next() => new(Count, Size, Seed, Stream, First + Count);

    public void Fill(int index, Span<float> image, Span<float> mask)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), $"shapes: sample {index} is outside [0, {Count})");
        int plane = Size * Size;
        if (image.Length != plane || mask.Length != plane)
            throw new ArgumentException($"shapes: expected an image and a mask of {plane} values, got {image.Length} and {mask.Length}");
        var random = new SampleRandom(Seed, Stream, First + index);
        float level = random.Uniform(0.1f, 0.4f), rampX = random.Uniform(-0.15f, 0.15f), rampY = random.Uniform(-0.15f, 0.15f);
        float Background(float x, float y) => level + rampX * (x / Size - 0.5f) * 2f + rampY * (y / Size - 0.5f) * 2f;
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++) image[y * Size + x] = Background(x + 0.5f, y + 0.5f);
        mask.Clear();
        int shapes = 1 + random.Below(MaxShapes);
        for (int s = 0; s < shapes; s++)
        {
            var figure = Figure.Draw(ref random, Size);
            float fill = Background(figure.CentreX, figure.CentreY) + random.Uniform(0.25f, 0.45f);
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                    if (figure.Contains(x + 0.5f, y + 0.5f))
                    {
                        image[y * Size + x] = fill;
                        mask[y * Size + x] = 1f;
                    }
        }
        float sigma = random.Uniform(0.04f, 0.12f);
        for (int p = 0; p < plane; p++) image[p] = Math.Clamp(image[p] + sigma * Gaussian(ref random), 0f, 1f);
    }

    /// <summary>A standard normal draw (Box-Muller on two uniforms).</summary>
    private static float Gaussian(ref SampleRandom random)
    {
        float u = 1f - random.Uniform(), v = random.Uniform();
        return MathF.Sqrt(-2f * MathF.Log(u)) * MathF.Cos(2f * MathF.PI * v);
    }

    /// <summary>One figure in pixel coordinates (x right, y down; pixel (i, j) has its centre at (j + 0.5, i + 0.5)).</summary>
    private readonly record struct Figure(ShapeKind Kind, float CentreX, float CentreY, float A, float B, float Angle, float[] Corners)
    {
        public static Figure Draw(ref SampleRandom random, int size)
        {
            var kind = (ShapeKind)random.Below(4);
            float margin = size / 8f;
            float cx = random.Uniform(margin, size - margin), cy = random.Uniform(margin, size - margin);
            switch (kind)
            {
                case ShapeKind.Circle:
                    return new(kind, cx, cy, random.Uniform(size / 12f, size / 5f), 0f, 0f, []);
                case ShapeKind.Rectangle:
                    return new(kind, cx, cy, random.Uniform(size / 12f, size / 4.5f), random.Uniform(size / 12f, size / 4.5f), 0f, []);
                case ShapeKind.Ellipse:
                    return new(kind, cx, cy, random.Uniform(size / 10f, size / 4.5f), random.Uniform(size / 16f, size / 8f), random.Uniform(0f, MathF.PI), []);
                default:
                    // Three corners at radius r around the centre, at angles a0, a0 + 2pi/3 + d1, a0 + 4pi/3 + d2.
                    float r = random.Uniform(size / 8f, size / 4f), a0 = random.Uniform(0f, 2f * MathF.PI);
                    var corners = new float[6];
                    for (int k = 0; k < 3; k++)
                    {
                        float angle = a0 + k * 2f * MathF.PI / 3f + (k == 0 ? 0f : random.Uniform(-0.4f, 0.4f));
                        corners[2 * k] = cx + r * MathF.Cos(angle);
                        corners[2 * k + 1] = cy + r * MathF.Sin(angle);
                    }
                    return new(kind, cx, cy, r, 0f, 0f, corners);
            }
        }

        public bool Contains(float x, float y)
        {
            float dx = x - CentreX, dy = y - CentreY;
            switch (Kind)
            {
                case ShapeKind.Circle:
                    return dx * dx + dy * dy <= A * A;
                case ShapeKind.Rectangle:
                    return MathF.Abs(dx) <= A && MathF.Abs(dy) <= B;
                case ShapeKind.Ellipse:
                    // Rotate into the ellipse's axes: u along the major axis, v along the minor.
                    float c = MathF.Cos(Angle), s = MathF.Sin(Angle);
                    float u = (dx * c + dy * s) / A, v = (-dx * s + dy * c) / B;
                    return u * u + v * v <= 1f;
                default:
                    // Inside when the point is on the same side of all three edges (cross products of one sign).
                    float d0 = Cross(0, 1, x, y), d1 = Cross(1, 2, x, y), d2 = Cross(2, 0, x, y);
                    return (d0 >= 0 && d1 >= 0 && d2 >= 0) || (d0 <= 0 && d1 <= 0 && d2 <= 0);
            }
        }

        /// <summary>(corner j - corner i) x (point - corner i).</summary>
        private float Cross(int i, int j, float x, float y) =>
            (Corners[2 * j] - Corners[2 * i]) * (y - Corners[2 * i + 1]) - (Corners[2 * j + 1] - Corners[2 * i + 1]) * (x - Corners[2 * i]);
    }
}
