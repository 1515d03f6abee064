namespace Engine;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"). Element i of a stream keyed by
/// <c>seed</c> is word (i mod 4) of Philox(key = seed, counter = (i / 4) as 128 bits), so any element can be made
/// by any thread of any backend on its own: CPU and CUDA draw identical numbers.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>The four 32-bit words of block <paramref name="block"/>.</summary>
    public static (uint, uint, uint, uint) Block(ulong seed, ulong block)
    {
        uint c0 = (uint)block, c1 = (uint)(block >> 32), c2 = 0, c3 = 0;
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0, n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint)p1; c3 = (uint)p0; c0 = n0; c2 = n2;
            k0 += W0; k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Word <paramref name="index"/> of the stream.</summary>
    public static uint Word(ulong seed, ulong index)
    {
        var (a, b, c, d) = Block(seed, index >> 2);
        return (index & 3) switch { 0 => a, 1 => b, 2 => c, _ => d };
    }

    /// <summary>Uniform float in [0, 1) from the top 24 bits of a word (exact in float32).</summary>
    public static float ToUniform(uint word) => (word >> 8) * (1.0f / 16777216f);

    /// <summary>Fills <paramref name="destination"/> with elements offset, offset+1, ... of the uniform stream.</summary>
    public static void Uniform(ulong seed, ulong offset, Span<float> destination)
    {
        int i = 0;
        // Unaligned head, one word at a time.
        for (; i < destination.Length && ((offset + (ulong)i) & 3) != 0; i++)
            destination[i] = ToUniform(Word(seed, offset + (ulong)i));
        // Whole blocks: four words per Philox evaluation.
        for (; i + 4 <= destination.Length; i += 4)
        {
            var (a, b, c, d) = Block(seed, (offset + (ulong)i) >> 2);
            destination[i] = ToUniform(a);
            destination[i + 1] = ToUniform(b);
            destination[i + 2] = ToUniform(c);
            destination[i + 3] = ToUniform(d);
        }
        for (; i < destination.Length; i++)
            destination[i] = ToUniform(Word(seed, offset + (ulong)i));
    }
}

/// <summary>
/// A seeded position in a Philox stream. Each draw of n numbers takes the next n counters, so a run is reproduced
/// exactly by the seed (and resumed by <see cref="Offset"/>).
/// </summary>
public sealed class Generator(ulong seed)
{
    /// <summary>The generator layers use for initialization and dropout when none is given.</summary>
    public static Generator Default { get; } = new(0);

    public ulong Seed { get; private set; } = seed;
    public ulong Offset { get; set; }

    public void ManualSeed(ulong seed)
    {
        Seed = seed;
        Offset = 0;
    }

    /// <summary>Reserves <paramref name="count"/> counters; returns the first (aligned to a Philox block).</summary>
    public ulong Advance(int count)
    {
        ulong first = Offset;
        Offset += ((ulong)count + 3) & ~3UL;
        return first;
    }

    /// <summary>count numbers uniform in [low, high), drawn on the host.</summary>
    public float[] Uniform(int count, float low, float high)
    {
        var values = new float[count];
        Philox.Uniform(Seed, Advance(count), values);
        for (int i = 0; i < count; i++) values[i] = low + (high - low) * values[i];
        return values;
    }
}
