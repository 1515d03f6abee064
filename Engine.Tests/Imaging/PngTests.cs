using System.Buffers.Binary;
using System.Diagnostics;
using Engine.Imaging;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Imaging;

/// <summary>
/// PNG: files written by independent encoders (scripts/make-png-fixtures.py with Python's zlib, and ImageMagick)
/// decode to the samples those tools were given; encode then decode is the identity; corrupt files are refused
/// with errors naming the file and the problem.
/// </summary>
public class PngTests
{
    private static readonly string Fixtures = Path.Combine(TestContext.CurrentContext.TestDirectory, "Imaging", "Fixtures");

    public static IEnumerable<TestCaseData> FixtureCases() =>
        Directory.GetFiles(Path.Combine(TestContext.CurrentContext.TestDirectory, "Imaging", "Fixtures"), "*.expected")
            .Order(StringComparer.Ordinal)
            .Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName($"Decodes fixture {Path.GetFileNameWithoutExtension(f)}"));

    /// <summary>NAME.expected: "width height channels\n" then the samples.</summary>
    private static Image Expected(string name)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Fixtures, name + ".expected"));
        int newline = Array.IndexOf(bytes, (byte)'\n');
        var size = System.Text.Encoding.ASCII.GetString(bytes, 0, newline).Split(' ').Select(int.Parse).ToArray();
        return new Image(size[0], size[1], size[2], bytes[(newline + 1)..]);
    }

    [TestCaseSource(nameof(FixtureCases))]
    public void DecodesFilesFromIndependentEncoders(string name)
    {
        var expected = Expected(name);
        var actual = Image.Load(Path.Combine(Fixtures, name + ".png"));
        Assert.That((actual.Width, actual.Height, actual.Channels), Is.EqualTo((expected.Width, expected.Height, expected.Channels)));
        Assert.That(actual.Pixels, Is.EqualTo(expected.Pixels));
    }

    [Test]
    public void FixturesCoverEveryColourTypeFromBothEncoders()
    {
        var names = FixtureCases().Select(c => (string)c.Arguments[0]!).ToArray();
        Assert.That(names.Count(n => n.StartsWith("py-", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(12));
        Assert.That(names.Count(n => n.StartsWith("im-", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(9), "ImageMagick fixtures (scripts/make-png-fixtures.py)");
    }

    [TestCase("bad-interlaced", "interlaced")]
    [TestCase("bad-16bit", "16-bit")]
    public void RefusesUnsupportedFilesByName(string name, string problem)
    {
        var path = Path.Combine(Fixtures, name + ".png");
        var e = Assert.Throws<InvalidDataException>(() => Image.Load(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain(problem));
    }

    private static Image RandomImage(System.Random rng, int width, int height, int channels)
    {
        var pixels = new byte[width * height * channels];
        // Smooth ramps plus noise, so every filter has something to predict.
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i / channels * 3 + rng.Next(rng.Next(2) == 0 ? 4 : 256));
        return new Image(width, height, channels, pixels);
    }

    [Test]
    public void EncodeThenDecodeIsTheIdentityForEveryFilterAndChannelCount()
    {
        var filters = new Png.Filter?[] { null, Png.Filter.None, Png.Filter.Sub, Png.Filter.Up, Png.Filter.Average, Png.Filter.Paeth };
        var cases = from w in Gen.Choose(1, 40) from h in Gen.Choose(1, 40) from c in Gen.Choose(1, 4) from f in Gen.Choose(0, filters.Length - 1) from seed in Gen.Choose(0, int.MaxValue) select (w, h, c, f, seed);
        Prop.ForAll(Arb.From(cases), t =>
        {
            var image = RandomImage(new System.Random(t.seed), t.w, t.h, t.c);
            var decoded = Png.Decode(Png.Encode(image, filters[t.f]), "round trip");
            Assert.That((decoded.Width, decoded.Height, decoded.Channels), Is.EqualTo((t.w, t.h, t.c)));
            Assert.That(decoded.Pixels, Is.EqualTo(image.Pixels), $"{t.w}x{t.h}x{t.c} filter {filters[t.f]?.ToString() ?? "adaptive"}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(150));
    }

    [Test]
    public void ImageMagickReadsWhatTheEncoderWrites()
    {
        const string convert = "/usr/bin/convert";
        if (!File.Exists(convert)) Assert.Ignore("ImageMagick is not installed; run scripts/setup-test-tools.sh");
        var directory = Directory.CreateTempSubdirectory("png-im-");
        try
        {
            var rng = new System.Random(7);
            for (int channels = 1; channels <= 4; channels++)
            {
                var image = RandomImage(rng, 23, 17, channels);
                var path = Path.Combine(directory.FullName, $"c{channels}.png");
                image.Save(path);
                var start = new ProcessStartInfo(convert, [path, "-depth", "8", "rgba:-"]) { RedirectStandardOutput = true };
                using var process = Process.Start(start)!;
                using var output = new MemoryStream();
                process.StandardOutput.BaseStream.CopyTo(output);
                process.WaitForExit();
                Assert.That(process.ExitCode, Is.Zero, $"convert {path}");
                Assert.That(output.ToArray(), Is.EqualTo(image.WithChannels(4).Pixels), $"{channels} channels as RGBA");
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static byte[] Small() => Png.Encode(RandomImage(new System.Random(3), 9, 5, 3));

    /// <summary>Byte offsets of each chunk in a PNG: (offset, type).</summary>
    private static List<(int Offset, string Type)> Chunks(byte[] png)
    {
        var chunks = new List<(int, string)>();
        for (int at = 8; at + 8 <= png.Length; at += 12 + (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at)))
            chunks.Add((at, System.Text.Encoding.ASCII.GetString(png, at + 4, 4)));
        return chunks;
    }

    /// <summary>Rewrites a chunk's CRC after the test changed its data, so the decoder's later checks are reached.</summary>
    private static void FixCrc(byte[] png, int offset)
    {
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(offset + 8 + length), Png.Crc32(png.AsSpan(offset + 4, 4 + length)));
    }

    private static string Refused(byte[] png, string name = "corrupt.png") =>
        Assert.Throws<InvalidDataException>(() => Png.Decode(png, name))!.Message;

    [Test]
    public void CrcIsTheStandardCrc32() =>
        Assert.That(Png.Crc32("123456789"u8), Is.EqualTo(0xCBF43926u), "the CRC-32 check value of ISO 3309 / ITU-T V.42");

    [Test]
    public void AFlippedBitInAnyChunkIsACrcError()
    {
        var png = Small();
        foreach (var (offset, type) in Chunks(png))
        {
            var copy = (byte[])png.Clone();
            copy[offset + 4 + (type == "IEND" ? 0 : 6)] ^= 0x10;
            var message = Refused(copy);
            Assert.That(message, Does.Contain("corrupt.png").And.Contain("CRC mismatch"), type);
        }
    }

    [Test]
    public void EveryTruncationIsAClearError()
    {
        var png = Small();
        for (int length = 0; length < png.Length; length++)
            Assert.That(Refused(png[..length]), Does.Contain("corrupt.png").And.Match("truncated|signature|missing IEND"), $"first {length} of {png.Length} bytes");
    }

    [Test]
    public void MissingIdatIsAnError()
    {
        var png = Small();
        var idat = Chunks(png).Single(c => c.Type == "IDAT");
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(idat.Offset));
        var without = png[..idat.Offset].Concat(png[(idat.Offset + 12 + length)..]).ToArray();
        Assert.That(Refused(without), Does.Contain("missing IDAT"));
    }

    [Test]
    public void AbsurdDimensionsAreRefusedBeforeAllocating()
    {
        var png = Small();
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 100_000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 100_000);
        FixCrc(png, 8);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(Refused(png), Does.Contain("100000x100000").And.Contain("limit"));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20), "bytes allocated while refusing");
    }

    [Test]
    public void DimensionsLargerThanTheDataAreRefusedBeforeAllocating()
    {
        var png = Small();
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 4000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 4000);
        FixCrc(png, 8);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(Refused(png), Does.Contain("4000x4000").And.Contain("cannot inflate"));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20), "bytes allocated while refusing");
    }

    [Test]
    public void AHeaderTallerThanTheDataIsReportedByRow()
    {
        var png = Small();
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 6);
        FixCrc(png, 8);
        Assert.That(Refused(png), Does.Contain("ends in row 5 of 6"));
    }

    [TestCase(8, (byte)16, "16-bit")]
    [TestCase(8, (byte)5, "bit depth 5")]
    [TestCase(9, (byte)1, "colour type 1")]
    [TestCase(12, (byte)1, "interlaced")]
    [TestCase(10, (byte)1, "compression method 1")]
    public void InvalidHeaderFieldsAreNamed(int field, byte value, string problem)
    {
        var png = Small();
        png[16 + field] = value;
        FixCrc(png, 8);
        Assert.That(Refused(png), Does.Contain(problem));
    }

    [Test]
    public void CorruptDeflateDataIsAnError()
    {
        var png = Small();
        var idat = Chunks(png).Single(c => c.Type == "IDAT");
        png[idat.Offset + 8 + 2] ^= 0xFF;
        png[idat.Offset + 8 + 3] ^= 0xFF;
        FixCrc(png, idat.Offset);
        Assert.That(Refused(png), Does.Contain("corrupt.png").And.Match("zlib|ends in row|filter type"));
    }

    [Test]
    public void UnknownCriticalChunkIsAnErrorAndAncillaryChunksAreSkipped()
    {
        var png = Small();
        var idat = Chunks(png).Single(c => c.Type == "IDAT");
        byte[] Insert(string type)
        {
            var chunk = new byte[12 + 3];
            BinaryPrimitives.WriteUInt32BigEndian(chunk, 3);
            System.Text.Encoding.ASCII.GetBytes(type).CopyTo(chunk, 4);
            FixCrc(chunk, 0);
            return [.. png[..idat.Offset], .. chunk, .. png[idat.Offset..]];
        }
        Assert.That(Refused(Insert("ABCD")), Does.Contain("unknown critical chunk 'ABCD'"));
        Assert.That(Png.Decode(Insert("abCD"), "ancillary").Pixels, Is.EqualTo(Png.Decode(png, "plain").Pixels));
    }

    [Test]
    public void NotAPngIsAnErrorNamingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"not-an-image-{Guid.NewGuid():N}.png");
        File.WriteAllText(path, "hello");
        try
        {
            Assert.That(Assert.Throws<InvalidDataException>(() => Image.Load(path))!.Message, Does.Contain(path).And.Contain("signature"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
