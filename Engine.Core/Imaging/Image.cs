namespace Engine.Imaging;

/// <summary>
/// An 8-bit image in memory: <see cref="Height"/> rows of <see cref="Width"/> pixels of <see cref="Channels"/>
/// interleaved samples (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), so sample (y, x, c) is at (y*W + x)*C + c.
/// </summary>
public sealed class Image
{
    public Image(int width, int height, int channels, byte[] pixels)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"image: expected a positive size, got {width}x{height}");
        if (channels is < 1 or > 4)
            throw new ArgumentException($"image: expected 1 to 4 channels, got {channels}");
        if (pixels.Length != (long)width * height * channels)
            throw new ArgumentException($"image: expected {(long)width * height * channels} samples for {width}x{height}x{channels}, got {pixels.Length}");
        Width = width;
        Height = height;
        Channels = channels;
        Pixels = pixels;
    }

    public Image(int width, int height, int channels) : this(width, height, channels, new byte[checked(width * height * channels)]) { }

    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }
    /// <summary>H x W x C samples, row-major.</summary>
    public byte[] Pixels { get; }

    public byte this[int y, int x, int c]
    {
        get => Pixels[(y * Width + x) * Channels + c];
        set => Pixels[(y * Width + x) * Channels + c] = value;
    }

    public override string ToString() => $"{Width}x{Height}x{Channels}";

    /// <summary>The samples as C x H x W floats, sample * scale (default: [0, 255] to [0, 1]).</summary>
    public float[] ToChw(float scale = 1f / 255f)
    {
        var chw = new float[Pixels.Length];
        WriteChw(chw, scale);
        return chw;
    }

    /// <summary>Writes C x H x W floats: destination[c, y, x] = sample(y, x, c) * scale.</summary>
    public void WriteChw(Span<float> destination, float scale = 1f / 255f)
    {
        if (destination.Length != Pixels.Length)
            throw new ArgumentException($"image {this}: expected a destination of {Pixels.Length} floats, got {destination.Length}");
        int plane = Width * Height;
        for (int c = 0; c < Channels; c++)
            for (int p = 0; p < plane; p++)
                destination[c * plane + p] = Pixels[p * Channels + c] * scale;
    }

    /// <summary>
    /// An image from C x H x W floats mapped linearly from [low, high] to [0, 255], rounded and clamped
    /// (for writing feature maps, filters and inputs as pictures).
    /// </summary>
    public static Image FromChw(ReadOnlySpan<float> chw, int channels, int height, int width, float low = 0f, float high = 1f)
    {
        if (chw.Length != (long)channels * height * width)
            throw new ArgumentException($"image: expected {(long)channels * height * width} floats for C x H x W = {channels}x{height}x{width}, got {chw.Length}");
        if (!(high > low))
            throw new ArgumentException($"image: expected low < high, got [{low}, {high}]");
        var image = new Image(width, height, channels);
        int plane = width * height;
        float scale = 255f / (high - low);
        for (int c = 0; c < channels; c++)
            for (int p = 0; p < plane; p++)
                image.Pixels[p * channels + c] = (byte)Math.Clamp(MathF.Round((chw[c * plane + p] - low) * scale), 0f, 255f);
        return image;
    }

    /// <summary>
    /// The same picture with <paramref name="channels"/> channels: grey is repeated into RGB, RGB becomes grey by
    /// the Rec. 601 luma weights (0.299, 0.587, 0.114), and alpha is dropped or added opaque.
    /// </summary>
    public Image WithChannels(int channels)
    {
        if (channels == Channels) return this;
        if (channels is < 1 or > 4)
            throw new ArgumentException($"image: expected 1 to 4 channels, got {channels}");
        var result = new Image(Width, Height, channels);
        bool sourceColour = Channels >= 3, sourceAlpha = Channels is 2 or 4;
        bool targetColour = channels >= 3, targetAlpha = channels is 2 or 4;
        for (int p = 0; p < Width * Height; p++)
        {
            var s = Pixels.AsSpan(p * Channels, Channels);
            var d = result.Pixels.AsSpan(p * channels, channels);
            if (targetColour)
            {
                d[0] = s[0];
                d[1] = sourceColour ? s[1] : s[0];
                d[2] = sourceColour ? s[2] : s[0];
            }
            else
            {
                d[0] = sourceColour ? (byte)Math.Round(0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2]) : s[0];
            }
            if (targetAlpha) d[channels - 1] = sourceAlpha ? s[Channels - 1] : (byte)255;
        }
        return result;
    }

    /// <summary>
    /// Bilinear resize with pixel centres aligned (source x = (x + 0.5) * W / newW - 0.5, clamped at the edges),
    /// the convention of PyTorch's interpolate(align_corners=False) without antialiasing.
    /// </summary>
    public Image Resize(int width, int height)
    {
        if (width == Width && height == Height) return this;
        var result = new Image(width, height, Channels);
        float sx = (float)Width / width, sy = (float)Height / height;
        for (int y = 0; y < height; y++)
        {
            float fy = Math.Max((y + 0.5f) * sy - 0.5f, 0f);
            int y0 = Math.Min((int)fy, Height - 1), y1 = Math.Min(y0 + 1, Height - 1);
            float wy = fy - y0;
            for (int x = 0; x < width; x++)
            {
                float fx = Math.Max((x + 0.5f) * sx - 0.5f, 0f);
                int x0 = Math.Min((int)fx, Width - 1), x1 = Math.Min(x0 + 1, Width - 1);
                float wx = fx - x0;
                for (int c = 0; c < Channels; c++)
                {
                    float top = this[y0, x0, c] + (this[y0, x1, c] - this[y0, x0, c]) * wx;
                    float bottom = this[y1, x0, c] + (this[y1, x1, c] - this[y1, x0, c]) * wx;
                    result[y, x, c] = (byte)Math.Clamp(MathF.Round(top + (bottom - top) * wy), 0f, 255f);
                }
            }
        }
        return result;
    }

    /// <summary>Reads a PNG or a PGM/PPM (P2, P3, P5, P6) file, recognised by its first bytes.</summary>
    public static Image Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"image file '{path}' does not exist", path);
        var bytes = File.ReadAllBytes(path);
        if (Png.HasSignature(bytes)) return Png.Decode(bytes, path);
        if (Pnm.HasSignature(bytes)) return Pnm.Decode(bytes, path);
        string head = Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)));
        throw new InvalidDataException($"image file '{path}': expected a PNG signature (89504E470D0A1A0A) or a PGM/PPM header (P2, P3, P5, P6), got 0x{head}");
    }

    /// <summary>Writes a PNG, or a binary PGM/PPM when the extension is .pgm/.ppm; through a temporary file.</summary>
    public void Save(string path)
    {
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        byte[] bytes = extension is ".pgm" or ".ppm" ? Pnm.Encode(this) : Png.Encode(this);
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }
}
