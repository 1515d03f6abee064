using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Data;

/// <summary>The contents of an IDX file of unsigned bytes (the MNIST format): its dimensions and raw data.</summary>
public sealed record IdxArray(int[] Dimensions, byte[] Data)
{
    public int Count => Dimensions[0];
}

/// <summary>
/// Reads IDX files (raw, or gzip-compressed when the file starts with the gzip magic). Only the unsigned-byte
/// type (0x08) is accepted; any truncation, bad magic or inconsistent size is an <see cref="InvalidDataException"/>
/// naming the file. Memory is bounded by the data actually present, whatever the header claims.
/// </summary>
public static class Idx
{
    private const int MaxDimensions = 4;

    public static IdxArray Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file '{path}' does not exist", path);
        using var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        int got = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        try
        {
            using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
            return Read(stream, path);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("IDX file", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"IDX file '{path}': corrupt gzip data ({e.Message})", e);
        }
    }

    public static IdxArray Read(Stream stream, string name)
    {
        Span<byte> header = stackalloc byte[4];
        ReadExactly(stream, header, name, "the 4-byte magic number");
        if (header[0] != 0 || header[1] != 0)
            throw new InvalidDataException($"IDX file '{name}': expected a magic number starting 0x0000, got 0x{header[0]:x2}{header[1]:x2}{header[2]:x2}{header[3]:x2}");
        if (header[2] != 0x08)
            throw new InvalidDataException($"IDX file '{name}': expected unsigned-byte data (type 0x08), got type 0x{header[2]:x2}");
        int rank = header[3];
        if (rank < 1 || rank > MaxDimensions)
            throw new InvalidDataException($"IDX file '{name}': expected 1 to {MaxDimensions} dimensions, got {rank}");
        var dims = new int[rank];
        long size = 1;
        Span<byte> dim = stackalloc byte[4];
        for (int i = 0; i < rank; i++)
        {
            ReadExactly(stream, dim, name, $"dimension {i}");
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dim);
            if (d == 0 || d > int.MaxValue)
                throw new InvalidDataException($"IDX file '{name}': dimension {i} is {d}; expected a positive size");
            dims[i] = (int)d;
            size *= d;
            if (size > Array.MaxLength)
                throw new InvalidDataException($"IDX file '{name}': the header claims more than {Array.MaxLength} bytes of data");
        }
        // Read into a growing buffer so a lying header cannot make us allocate more than the data present.
        using var data = new MemoryStream();
        var chunk = new byte[1 << 16];
        while (data.Length < size)
        {
            int want = (int)Math.Min(chunk.Length, size - data.Length);
            int n = stream.Read(chunk, 0, want);
            if (n == 0)
                throw new InvalidDataException($"IDX file '{name}': truncated; expected {size} bytes of data for shape ({string.Join('x', dims)}), found {data.Length}");
            data.Write(chunk, 0, n);
        }
        if (stream.Read(chunk, 0, 1) != 0)
            throw new InvalidDataException($"IDX file '{name}': has data past the {size} bytes its header declares ({string.Join('x', dims)})");
        return new IdxArray(dims, data.ToArray());
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string name, string what)
    {
        int got = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (got < buffer.Length)
            throw new InvalidDataException($"IDX file '{name}': truncated while reading {what} ({got} of {buffer.Length} bytes)");
    }
}
