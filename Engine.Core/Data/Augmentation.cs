namespace Engine.Data;

/// <summary>The layout of one item: C x H x W floats, plane = H * W.</summary>
public readonly record struct ItemGeometry(int Channels, int Height, int Width)
{
    public int Plane => Height * Width;
    public int Size => Channels * Plane;

    /// <summary>From a dataset's item shape (C, H, W).</summary>
    public static ItemGeometry Of(Shape itemShape) =>
        itemShape.Rank == 3 ? new(itemShape[0], itemShape.Height, itemShape.Width) : throw new ArgumentException($"augmentation: expected an item shape (C,H,W), got {itemShape}");
}

/// <summary>
/// The random numbers of one sample in one epoch: a Philox stream keyed by a hash of (seed, epoch, sample index),
/// read in order. Every sample's draws depend only on those three numbers, never on batching or threads.
/// </summary>
public struct SampleRandom
{
    private readonly ulong key;
    private ulong counter;

    public SampleRandom(ulong seed, int epoch, int sample) => key = Mix(Mix(Mix(seed) ^ (uint)epoch) ^ ((ulong)(uint)sample << 32));

    /// <summary>The SplitMix64 finalizer: a bijection that spreads every input bit over the output.</summary>
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public float Uniform() => Philox.ToUniform(Philox.Word(key, counter++));

    /// <summary>Uniform in [low, high).</summary>
    public float Uniform(float low, float high) => low + (high - low) * Uniform();

    /// <summary>Uniform integer in [0, count).</summary>
    public int Below(int count) => (int)(Philox.Word(key, counter++) % (uint)count);

    /// <summary>True with probability <paramref name="probability"/>.</summary>
    public bool Chance(float probability) => Uniform() < probability;
}

/// <summary>One augmentation step: changes a C x H x W item in place, drawing what it needs from the sample's stream.</summary>
public interface ITransform
{
    void Apply(Span<float> item, ItemGeometry geometry, ref SampleRandom random);
}

/// <summary>
/// Transforms applied in order to each sample as the data loader makes its batch. Given the seed, sample i of
/// epoch e always comes out the same.
/// </summary>
public sealed class Augmentation(params ITransform[] transforms)
{
    public IReadOnlyList<ITransform> Transforms { get; } = transforms;

    public void Apply(Span<float> item, ItemGeometry geometry, ulong seed, int epoch, int sample)
    {
        if (item.Length != geometry.Size)
            throw new ArgumentException($"augmentation: expected an item of {geometry.Channels}x{geometry.Height}x{geometry.Width} = {geometry.Size} values, got {item.Length}");
        var random = new SampleRandom(seed, epoch, sample);
        for (int i = 0; i < Transforms.Count; i++) Transforms[i].Apply(item, geometry, ref random);
    }

    /// <summary>
    /// The usual recipe for small natural images (CIFAR): 4-pixel padded random crop and horizontal flip.
    /// </summary>
    public static Augmentation CropAndFlip(int padding = 4) => new(new RandomCrop(padding), new HorizontalFlip());
}
