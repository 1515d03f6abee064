using System.Buffers.Binary;

namespace Engine.Imaging;

/// <summary>
/// PNG (ISO/IEC 15948) on System.IO.Compression: the chunk layout, CRC-32 and filters shared by the decoder
/// (Png.Decode.cs) and the encoder (Png.Encode.cs).
/// A file is the 8-byte signature, then chunks: length (4 bytes, big-endian), type (4 ASCII letters), data,
/// CRC-32 of type and data. IHDR first, PLTE before the IDATs, the IDATs consecutive, IEND last. The IDATs
/// concatenated are one zlib stream of H rows, each a filter-type byte and W*C*depth/8 filtered bytes.
/// </summary>
public static partial class Png
{
    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>IHDR colour types.</summary>
    private enum ColourType : byte { Grey = 0, Rgb = 2, Palette = 3, GreyAlpha = 4, Rgba = 6 }

    /// <summary>Row filter types; each predicts a byte from a = left, b = above, c = above-left.</summary>
    public enum Filter : byte { None = 0, Sub = 1, Up = 2, Average = 3, Paeth = 4 }

    public static bool HasSignature(ReadOnlySpan<byte> bytes) => bytes.Length >= Signature.Length && bytes[..Signature.Length].SequenceEqual(Signature);

    private const int IhdrLength = 13;

    private static uint ChunkType(string name) => BinaryPrimitives.ReadUInt32BigEndian([(byte)name[0], (byte)name[1], (byte)name[2], (byte)name[3]]);

    private static readonly uint Ihdr = ChunkType("IHDR"), Plte = ChunkType("PLTE"), Idat = ChunkType("IDAT"), Iend = ChunkType("IEND"), Trns = ChunkType("tRNS");

    private static string ChunkName(uint type) => string.Concat(
        Enumerable.Range(0, 4).Select(i => (char)(byte)(type >> (24 - 8 * i))).Select(ch => ch is >= ' ' and <= '~' ? ch.ToString() : $"\\x{(int)ch:x2}"));

    // CRC-32 with the reflected polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF (PNG spec, annex D).
    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    /// <summary>CRC-32 of <paramref name="bytes"/> continued from <paramref name="crc"/> (start with 0).</summary>
    public static uint Crc32(ReadOnlySpan<byte> bytes, uint crc = 0)
    {
        uint c = ~crc;
        foreach (byte b in bytes) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }

    /// <summary>The Paeth predictor: whichever of a, b, c is closest to a + b - c (ties: a, then b).</summary>
    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>
    /// Undoes <paramref name="filter"/> in place: row[i] += predictor(left, above, above-left), where left is
    /// <paramref name="step"/> bytes back (one whole pixel, at least one byte) and bytes outside the image are 0.
    /// </summary>
    private static void Unfilter(Filter filter, Span<byte> row, ReadOnlySpan<byte> prior, int step)
    {
        switch (filter)
        {
            case Filter.None:
                break;
            case Filter.Sub:
                for (int i = step; i < row.Length; i++) row[i] += row[i - step];
                break;
            case Filter.Up:
                for (int i = 0; i < row.Length; i++) row[i] += prior[i];
                break;
            case Filter.Average:
                for (int i = 0; i < row.Length; i++) row[i] += (byte)(((i >= step ? row[i - step] : 0) + prior[i]) >> 1);
                break;
            case Filter.Paeth:
                for (int i = 0; i < row.Length; i++)
                    row[i] += (byte)Paeth(i >= step ? row[i - step] : 0, prior[i], i >= step ? prior[i - step] : 0);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(filter), filter, "PNG filter types are 0 to 4");
        }
    }

    /// <summary>Applies <paramref name="filter"/> to <paramref name="row"/> (raw bytes) into <paramref name="filtered"/>.</summary>
    private static void ApplyFilter(Filter filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, int step, Span<byte> filtered)
    {
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= step ? row[i - step] : 0, b = prior[i], c = i >= step ? prior[i - step] : 0;
            int predicted = filter switch
            {
                Filter.None => 0,
                Filter.Sub => a,
                Filter.Up => b,
                Filter.Average => (a + b) >> 1,
                _ => Paeth(a, b, c),
            };
            filtered[i] = (byte)(row[i] - predicted);
        }
    }
}
