namespace Engine.Tests.Reference;

/// <summary>
/// Philox4x32-10 written from Salmon et al. (SC'11): ten rounds of
/// (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)),
/// the key bumped by the Weyl constants between rounds. The engine's stream: element i is word i mod 4 of the block
/// with counter i / 4 (128-bit, low word first) under key = seed, and a uniform is the top 24 bits / 2^24.
/// </summary>
public static class PhiloxReference
{
    private const uint Multiplier0 = 0xD2511F53, Multiplier1 = 0xCD9E8D57;
    private const uint Weyl0 = 0x9E3779B9, Weyl1 = 0xBB67AE85;

    public static uint[] Block(uint[] counter, uint[] key)
    {
        var c = (uint[])counter.Clone();
        uint k0 = key[0], k1 = key[1];
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 = unchecked(k0 + Weyl0);
                k1 = unchecked(k1 + Weyl1);
            }
            ulong product0 = (ulong)Multiplier0 * c[0], product1 = (ulong)Multiplier1 * c[2];
            c = [
                (uint)(product1 >> 32) ^ c[1] ^ k0,
                (uint)product1,
                (uint)(product0 >> 32) ^ c[3] ^ k1,
                (uint)product0,
            ];
        }
        return c;
    }

    public static uint Word(ulong seed, ulong index)
    {
        ulong block = index / 4;
        var words = Block([(uint)block, (uint)(block >> 32), 0, 0], [(uint)seed, (uint)(seed >> 32)]);
        return words[index % 4];
    }

    public static double Uniform(ulong seed, ulong index) => (Word(seed, index) >> 8) / 16777216.0;
}
