using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Imaging;

public static partial class Png
{
    /// <summary>
    /// The most pixels a decoded image may have (2^26, e.g. 8192 x 8192): a header claiming more is an error
    /// before anything is allocated.
    /// </summary>
    public const long MaxPixels = 1L << 26;

    // Deflate cannot expand by more than about 1032:1 (a 258-byte match in as little as two bits), so a header
    // needing more raw bytes than this times the compressed size is a lie, and is refused before allocating.
    private const long MaxInflateRatio = 1100, InflateSlack = 1024;

    /// <summary>IHDR: W x H pixels of colour type <see cref="Colour"/> at <see cref="Depth"/> bits per sample.</summary>
    private readonly record struct Header(int Width, int Height, int Depth, ColourType Colour)
    {
        public int SamplesPerPixel => Colour switch
        {
            ColourType.Grey or ColourType.Palette => 1,
            ColourType.GreyAlpha => 2,
            ColourType.Rgb => 3,
            _ => 4,
        };

        /// <summary>Filtered bytes per row: ceil(W * samples * depth / 8).</summary>
        public long RowBytes => ((long)Width * SamplesPerPixel * Depth + 7) / 8;

        /// <summary>The filters' "left" distance: one pixel, at least one byte.</summary>
        public int Step => Math.Max(1, SamplesPerPixel * Depth / 8);
    }

    public static Image Decode(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PNG file '{path}' does not exist", path);
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>
    /// Decodes 8-bit grey, grey+alpha, RGB, RGBA, and palette or grey at 1, 2, 4 or 8 bits (scaled to 8), with
    /// optional tRNS (which adds an alpha channel). Every chunk's CRC is checked. Interlaced and 16-bit files,
    /// unknown critical chunks and any inconsistency are an <see cref="InvalidDataException"/> naming
    /// <paramref name="name"/>.
    /// </summary>
    public static Image Decode(byte[] bytes, string name)
    {
        if (!HasSignature(bytes))
            throw Error(name, $"expected the PNG signature 89504E470D0A1A0A, got 0x{Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)))}");
        Header? header = null;
        byte[]? palette = null, transparency = null;
        using var idat = new MemoryStream();
        bool idatDone = false, ended = false;
        int position = Signature.Length;
        while (!ended)
        {
            if (bytes.Length - position < 8)
                throw Error(name, $"truncated: expected a chunk header at byte {position}, but the file ends at byte {bytes.Length}{(header is null ? "" : " (missing IEND)")}");
            long length = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(position));
            uint type = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(position + 4));
            string chunk = ChunkName(type);
            if (length > int.MaxValue || position + 12 + length > bytes.Length)
                throw Error(name, $"truncated: chunk '{chunk}' at byte {position} declares {length} data bytes plus its CRC, but only {bytes.Length - position - 8} bytes remain");
            var data = bytes.AsSpan(position + 8, (int)length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(position + 8 + (int)length));
            uint computed = Crc32(bytes.AsSpan(position + 4, 4 + (int)length));
            if (stored != computed)
                throw Error(name, $"chunk '{chunk}' at byte {position}: CRC mismatch (stored 0x{stored:X8}, computed 0x{computed:X8})");
            if (header is null && type != Ihdr)
                throw Error(name, $"expected IHDR as the first chunk, got '{chunk}'");
            if (idat.Length > 0 && type != Idat) idatDone = true;

            if (type == Ihdr)
            {
                if (header is not null) throw Error(name, "a second IHDR chunk");
                header = ReadHeader(data, name);
            }
            else if (type == Plte) palette = ReadPalette(data, header!.Value, idat.Length > 0, name);
            else if (type == Trns) transparency = ReadTransparency(data, header!.Value, palette, name);
            else if (type == Idat)
            {
                if (idatDone) throw Error(name, $"IDAT chunk at byte {position} after other chunks followed the first IDATs (they must be consecutive)");
                idat.Write(data);
            }
            else if (type == Iend) ended = true;
            else if ((type & 0x20000000) == 0)
                throw Error(name, $"unknown critical chunk '{chunk}' at byte {position}");
            position += 12 + (int)length;
        }
        var h = header!.Value;
        if (idat.Length == 0) throw Error(name, "missing IDAT (no image data before IEND)");
        if (h.Colour == ColourType.Palette && palette is null) throw Error(name, "palette colour type without a PLTE chunk");
        var rows = Inflate(idat, h, name);
        return Expand(rows, h, palette, transparency, name);
    }

    private static InvalidDataException Error(string name, string problem) => new($"PNG file '{name}': {problem}");

    private static Header ReadHeader(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length != IhdrLength) throw Error(name, $"IHDR has {data.Length} bytes; expected {IhdrLength}");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(data), height = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        int depth = data[8], colour = data[9], compression = data[10], filter = data[11], interlace = data[12];
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
            throw Error(name, $"IHDR dimensions {width}x{height}; expected both in [1, 2^31 - 1]");
        if ((long)width * height > MaxPixels)
            throw Error(name, $"IHDR dimensions {width}x{height} = {(long)width * height} pixels exceed the limit of {MaxPixels}");
        int[]? allowed = colour switch
        {
            0 => [1, 2, 4, 8, 16],
            2 or 4 or 6 => [8, 16],
            3 => [1, 2, 4, 8],
            _ => null,
        };
        if (allowed is null) throw Error(name, $"IHDR colour type {colour}; expected 0 (grey), 2 (RGB), 3 (palette), 4 (grey+alpha) or 6 (RGBA)");
        if (!allowed.Contains(depth)) throw Error(name, $"IHDR bit depth {depth} is invalid for colour type {colour}; expected one of {string.Join(", ", allowed)}");
        if (depth == 16) throw Error(name, "16-bit samples are not supported; expected bit depth 8 or less");
        if (compression != 0) throw Error(name, $"IHDR compression method {compression}; expected 0 (deflate)");
        if (filter != 0) throw Error(name, $"IHDR filter method {filter}; expected 0");
        if (interlace == 1) throw Error(name, "interlaced (Adam7) images are not supported; expected interlace method 0");
        if (interlace != 0) throw Error(name, $"IHDR interlace method {interlace}; expected 0");
        return new Header((int)width, (int)height, depth, (ColourType)colour);
    }

    private static byte[] ReadPalette(ReadOnlySpan<byte> data, Header header, bool afterImageData, string name)
    {
        if (afterImageData) throw Error(name, "PLTE after IDAT; expected it before the image data");
        if (header.Colour is ColourType.Grey or ColourType.GreyAlpha) throw Error(name, $"PLTE in a {header.Colour} image");
        int limit = header.Colour == ColourType.Palette ? 1 << header.Depth : 256;
        if (data.Length % 3 != 0 || data.Length == 0 || data.Length / 3 > limit)
            throw Error(name, $"PLTE has {data.Length} bytes; expected 3 x (1 to {limit}) entries");
        return data.ToArray();
    }

    private static byte[] ReadTransparency(ReadOnlySpan<byte> data, Header header, byte[]? palette, string name)
    {
        int expected = header.Colour switch
        {
            ColourType.Grey => 2,
            ColourType.Rgb => 6,
            ColourType.Palette => palette is null ? throw Error(name, "tRNS before PLTE") : -1,
            _ => throw Error(name, $"tRNS in a {header.Colour} image, which already has alpha"),
        };
        if (expected > 0 && data.Length != expected) throw Error(name, $"tRNS has {data.Length} bytes; expected {expected} for {header.Colour}");
        if (expected < 0 && data.Length > palette!.Length / 3) throw Error(name, $"tRNS has {data.Length} alpha values for a {palette.Length / 3}-entry palette");
        return data.ToArray();
    }

    /// <summary>Inflates the IDAT stream and undoes each row's filter: H rows of <see cref="Header.RowBytes"/>.</summary>
    private static byte[] Inflate(MemoryStream idat, Header h, string name)
    {
        long rowBytes = h.RowBytes, raw = (rowBytes + 1) * h.Height;
        if (raw > idat.Length * MaxInflateRatio + InflateSlack)
            throw Error(name, $"{h.Width}x{h.Height} needs {raw} bytes of filtered rows, but the {idat.Length} bytes of IDAT cannot inflate to that (truncated or wrong dimensions)");
        if (rowBytes * h.Height > Array.MaxLength)
            throw Error(name, $"{h.Width}x{h.Height} needs {rowBytes * h.Height} bytes, more than an array holds");
        var rows = new byte[rowBytes * h.Height];
        var prior = new byte[rowBytes];
        idat.Position = 0;
        try
        {
            using var zlib = new ZLibStream(idat, CompressionMode.Decompress, leaveOpen: true);
            Span<byte> filterByte = stackalloc byte[1];
            for (int y = 0; y < h.Height; y++)
            {
                var row = rows.AsSpan((int)(y * rowBytes), (int)rowBytes);
                if (zlib.ReadAtLeast(filterByte, 1, throwOnEndOfStream: false) < 1 || zlib.ReadAtLeast(row, row.Length, throwOnEndOfStream: false) < row.Length)
                    throw Error(name, $"image data ends in row {y} of {h.Height} ({h.Width}x{h.Height}, {rowBytes} bytes per row)");
                if (filterByte[0] > (byte)Filter.Paeth)
                    throw Error(name, $"row {y} has filter type {filterByte[0]}; expected 0 to 4");
                Unfilter((Filter)filterByte[0], row, y == 0 ? prior : rows.AsSpan((int)((y - 1) * rowBytes), (int)rowBytes), h.Step);
            }
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("PNG file", StringComparison.Ordinal))
        {
            throw Error(name, $"corrupt zlib data in IDAT ({e.Message})");
        }
        return rows;
    }

    /// <summary>Unpacks the rows into 8-bit samples: palette looked up, low depths scaled, tRNS as alpha.</summary>
    private static Image Expand(byte[] rows, Header h, byte[]? palette, byte[]? transparency, string name)
    {
        int samples = h.SamplesPerPixel;
        int channels = h.Colour switch
        {
            ColourType.Palette => transparency is null ? 3 : 4,
            ColourType.Grey or ColourType.Rgb => samples + (transparency is null ? 0 : 1),
            _ => samples,
        };
        var image = new Image(h.Width, h.Height, channels);
        var pixels = image.Pixels;
        int rowBytes = (int)h.RowBytes, mask = (1 << h.Depth) - 1, entries = palette?.Length / 3 ?? 0;
        int greyScale = 255 / mask;
        Span<byte> sample = stackalloc byte[4];
        for (int y = 0; y < h.Height; y++)
        {
            var row = rows.AsSpan(y * rowBytes, rowBytes);
            for (int x = 0; x < h.Width; x++)
            {
                var target = pixels.AsSpan((y * h.Width + x) * channels, channels);
                if (h.Depth == 8) row.Slice(x * samples, samples).CopyTo(sample);
                else
                {
                    int bit = x * h.Depth;
                    sample[0] = (byte)((row[bit >> 3] >> (8 - h.Depth - (bit & 7))) & mask);
                }
                if (h.Colour == ColourType.Palette)
                {
                    int index = sample[0];
                    if (index >= entries) throw Error(name, $"pixel ({x}, {y}) has palette index {index}; the palette has {entries} entries");
                    palette.AsSpan(index * 3, 3).CopyTo(target);
                    if (transparency is not null) target[3] = index < transparency.Length ? transparency[index] : (byte)255;
                    continue;
                }
                if (h.Colour == ColourType.Grey)
                {
                    int level = sample[0];
                    target[0] = (byte)(level * greyScale);
                    if (transparency is not null) target[1] = level == BinaryPrimitives.ReadUInt16BigEndian(transparency) ? (byte)0 : (byte)255;
                    continue;
                }
                sample[..samples].CopyTo(target);
                if (h.Colour == ColourType.Rgb && transparency is not null)
                {
                    bool key = sample[0] == BinaryPrimitives.ReadUInt16BigEndian(transparency)
                        && sample[1] == BinaryPrimitives.ReadUInt16BigEndian(transparency.AsSpan(2))
                        && sample[2] == BinaryPrimitives.ReadUInt16BigEndian(transparency.AsSpan(4));
                    target[3] = key ? (byte)0 : (byte)255;
                }
            }
        }
        return image;
    }
}
