namespace Engine.Data;

/// <summary>
/// Per-channel normalization of pixels in [0, 1]: x[c, y, x] -> (x[c, y, x] - Mean[c]) / Std[c].
/// </summary>
public sealed record ChannelNormalization
{
    public ChannelNormalization(float[] mean, float[] std)
    {
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"normalization: expected one mean and one standard deviation per channel, got {mean.Length} and {std.Length}");
        for (int c = 0; c < std.Length; c++)
            if (!(std[c] > 0) || !float.IsFinite(mean[c]))
                throw new ArgumentException($"normalization: channel {c} has mean {mean[c]} and std {std[c]}; expected a finite mean and a positive std");
        Mean = mean;
        Std = std;
    }

    public float[] Mean { get; }
    public float[] Std { get; }
    public int Channels => Mean.Length;

    /// <summary>The usual statistics of the CIFAR-10 and CIFAR-100 training images (RGB, pixels in [0, 1]).</summary>
    public static ChannelNormalization Cifar10 { get; } = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);
    public static ChannelNormalization Cifar100 { get; } = new([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);

    /// <summary>No change: mean 0 and std 1 on every channel.</summary>
    public static ChannelNormalization Identity(int channels) => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Mean and (population) standard deviation per channel of N x C x H x W values, in double precision.</summary>
    public static ChannelNormalization FromImages(ReadOnlySpan<float> images, int channels, int plane)
    {
        long item = (long)channels * plane;
        if (item == 0 || images.Length % item != 0)
            throw new ArgumentException($"normalization: {images.Length} values are not whole items of {channels} x {plane}");
        long count = images.Length / item;
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double sum = 0, squares = 0;
            for (long n = 0; n < count; n++)
                foreach (float v in images.Slice((int)(n * item + c * plane), plane))
                {
                    sum += v;
                    squares += (double)v * v;
                }
            double m = sum / (count * plane), variance = Math.Max(squares / (count * plane) - m * m, 0);
            mean[c] = (float)m;
            std[c] = (float)Math.Max(Math.Sqrt(variance), 1e-6);
        }
        return new ChannelNormalization(mean, std);
    }

    /// <summary>Normalizes one C x H x W item in place.</summary>
    public void Apply(Span<float> item, int plane)
    {
        if (item.Length != Channels * plane)
            throw new ArgumentException($"normalization: expected an item of {Channels} x {plane} values, got {item.Length}");
        for (int c = 0; c < Channels; c++)
        {
            float scale = 1f / Std[c], shift = Mean[c] / Std[c];
            foreach (ref float v in item.Slice(c * plane, plane)) v = v * scale - shift;
        }
    }

    /// <summary>Normalizes every item of N x C x H x W values in place.</summary>
    public void ApplyAll(Span<float> images, int plane)
    {
        int item = Channels * plane;
        for (int start = 0; start < images.Length; start += item) Apply(images.Slice(start, item), plane);
    }

    public override string ToString() => $"mean ({string.Join(", ", Mean)}), std ({string.Join(", ", Std)})";
}
