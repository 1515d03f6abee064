using System.Text;

namespace Engine.Imaging;

/// <summary>
/// Netpbm grey and colour maps: P5/P6 (binary) and P2/P3 (ASCII) PGM/PPM. The header is the magic, width,
/// height and maxval as decimal tokens separated by whitespace, with '#' comments to the end of a line; binary
/// samples follow after one whitespace byte (two bytes big-endian when maxval > 255). Samples are scaled from
/// [0, maxval] to [0, 255].
/// </summary>
public static class Pnm
{
    public static bool HasSignature(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 2 && bytes[0] == (byte)'P' && bytes[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6';

    public static Image Decode(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PGM/PPM file '{path}' does not exist", path);
        return Decode(File.ReadAllBytes(path), path);
    }

    public static Image Decode(byte[] bytes, string name)
    {
        if (!HasSignature(bytes))
            throw Error(name, $"expected the magic P2, P3, P5 or P6, got 0x{Convert.ToHexString(bytes.AsSpan(0, Math.Min(2, bytes.Length)))}");
        char kind = (char)bytes[1];
        int channels = kind is '3' or '6' ? 3 : 1;
        bool ascii = kind is '2' or '3';
        int position = 2;
        long width = Token(bytes, ref position, name, "width"), height = Token(bytes, ref position, name, "height"), maxval = Token(bytes, ref position, name, "maxval");
        if (width < 1 || height < 1 || width * height > Png.MaxPixels)
            throw Error(name, $"dimensions {width}x{height}; expected positive, at most {Png.MaxPixels} pixels");
        if (maxval is < 1 or > 65535) throw Error(name, $"maxval {maxval}; expected 1 to 65535");
        long count = width * height * channels;
        int bytesPerSample = maxval > 255 ? 2 : 1;
        if (!ascii)
        {
            if (position >= bytes.Length || !IsSpace(bytes[position])) throw Error(name, "expected one whitespace byte after maxval");
            position++;
            if (bytes.Length - position < count * bytesPerSample)
                throw Error(name, $"truncated: {width}x{height}x{channels} needs {count * bytesPerSample} sample bytes, found {bytes.Length - position}");
        }
        else if (bytes.Length - position < count * 2 - 1)
        {
            throw Error(name, $"truncated: {width}x{height}x{channels} needs {count} ASCII samples, but only {bytes.Length - position} bytes remain");
        }
        var image = new Image((int)width, (int)height, channels);
        for (long i = 0; i < count; i++)
        {
            long value = ascii ? Token(bytes, ref position, name, $"sample {i} of {count}")
                : bytesPerSample == 1 ? bytes[position + i] : (bytes[position + 2 * i] << 8) | bytes[position + 2 * i + 1];
            if (value > maxval) throw Error(name, $"sample {i} is {value}, above maxval {maxval}");
            image.Pixels[i] = (byte)((value * 255 + maxval / 2) / maxval);
        }
        return image;
    }

    /// <summary>Binary PGM (grey, grey+alpha) or PPM (RGB, RGBA); alpha is dropped.</summary>
    public static byte[] Encode(Image image)
    {
        var opaque = image.WithChannels(image.Channels >= 3 ? 3 : 1);
        var header = Encoding.ASCII.GetBytes($"P{(opaque.Channels == 3 ? 6 : 5)}\n{image.Width} {image.Height}\n255\n");
        var bytes = new byte[header.Length + opaque.Pixels.Length];
        header.CopyTo(bytes, 0);
        opaque.Pixels.CopyTo(bytes, header.Length);
        return bytes;
    }

    private static InvalidDataException Error(string name, string problem) => new($"PGM/PPM file '{name}': {problem}");

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    /// <summary>The next decimal token, skipping whitespace and comments.</summary>
    private static long Token(byte[] bytes, ref int position, string name, string what)
    {
        while (position < bytes.Length && (IsSpace(bytes[position]) || bytes[position] == '#'))
        {
            if (bytes[position] == '#')
                while (position < bytes.Length && bytes[position] != '\n' && bytes[position] != '\r') position++;
            else position++;
        }
        if (position >= bytes.Length) throw Error(name, $"truncated: expected the {what}, found the end of the file");
        long value = 0;
        int start = position;
        while (position < bytes.Length && bytes[position] is >= (byte)'0' and <= (byte)'9' && position - start < 10)
            value = value * 10 + (bytes[position++] - '0');
        if (position == start || (position < bytes.Length && !IsSpace(bytes[position]) && bytes[position] != '#'))
            throw Error(name, $"expected a decimal number for the {what} at byte {start}, got '{(char)bytes[start]}'");
        return value;
    }
}
