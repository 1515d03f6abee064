using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Imaging;

public static partial class Png
{
    /// <summary>
    /// Encodes 8-bit grey (1 channel), grey+alpha (2), RGB (3) or RGBA (4), non-interlaced. Each row uses
    /// <paramref name="filter"/>, or when null the filter with the smallest sum of |signed bytes| (a common
    /// heuristic for what compresses best).
    /// </summary>
    public static byte[] Encode(Image image, Filter? filter = null, CompressionLevel level = CompressionLevel.Optimal)
    {
        var colour = image.Channels switch
        {
            1 => ColourType.Grey,
            2 => ColourType.GreyAlpha,
            3 => ColourType.Rgb,
            _ => ColourType.Rgba,
        };
        using var output = new MemoryStream();
        output.Write(Signature);
        Span<byte> ihdr = stackalloc byte[IhdrLength];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)image.Width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr[4..], (uint)image.Height);
        ihdr[8] = 8;
        ihdr[9] = (byte)colour;
        ihdr[10] = ihdr[11] = ihdr[12] = 0;
        WriteChunk(output, Ihdr, ihdr);
        WriteChunk(output, Idat, Deflate(image, filter, level));
        WriteChunk(output, Iend, []);
        return output.ToArray();
    }

    /// <summary>Writes a PNG file through a temporary file renamed into place.</summary>
    public static void Write(string path, Image image, Filter? filter = null)
    {
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, Encode(image, filter));
        File.Move(temporary, path, overwrite: true);
    }

    private static byte[] Deflate(Image image, Filter? filter, CompressionLevel level)
    {
        int rowBytes = image.Width * image.Channels, step = image.Channels;
        var prior = new byte[rowBytes];
        var line = new byte[rowBytes + 1];
        var candidate = new byte[rowBytes];
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, level, leaveOpen: true))
        {
            for (int y = 0; y < image.Height; y++)
            {
                var row = image.Pixels.AsSpan(y * rowBytes, rowBytes);
                var above = y == 0 ? prior : image.Pixels.AsSpan((y - 1) * rowBytes, rowBytes);
                if (filter is { } chosen)
                {
                    line[0] = (byte)chosen;
                    ApplyFilter(chosen, row, above, step, line.AsSpan(1));
                }
                else
                {
                    long best = long.MaxValue;
                    for (var f = Filter.None; f <= Filter.Paeth; f++)
                    {
                        ApplyFilter(f, row, above, step, candidate);
                        long cost = 0;
                        foreach (byte b in candidate) cost += b < 128 ? b : 256 - b;
                        if (cost >= best) continue;
                        best = cost;
                        line[0] = (byte)f;
                        candidate.CopyTo(line, 1);
                    }
                }
                zlib.Write(line);
            }
        }
        return compressed.ToArray();
    }

    private static void WriteChunk(Stream output, uint type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        output.Write(word);
        BinaryPrimitives.WriteUInt32BigEndian(word, type);
        output.Write(word);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(data, Crc32(word)));
        output.Write(word);
    }
}
