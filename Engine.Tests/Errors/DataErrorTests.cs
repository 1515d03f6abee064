using System.IO.Compression;
using Engine.Data;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Errors;

/// <summary>Truncated, corrupt or mislabelled IDX files (raw and gzip) and missing data get clear errors naming the file.</summary>
[TestFixture]
public sealed class DataErrorTests
{
    private string _dir = "";

    [SetUp]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("engine-idx-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    /// <summary>An IDX file of unsigned bytes: magic 0x0000_08_rank, big-endian dimensions, then the data.</summary>
    private static byte[] Idx(int[] dims, byte[] data, byte type = 0x08)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (int d in dims) bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(raw);
        return output.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertInvalid(string path, params string[] parts)
    {
        var e = Assert.Throws<InvalidDataException>(() => Engine.Data.Idx.Read(path));
        Assert.That(e!.Message, Does.Contain($"IDX file '{path}'"));
        foreach (var part in parts) Assert.That(e.Message, Does.Contain(part));
    }

    [Test]
    public void ValidFilesRoundTripRawAndGzip()
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        foreach (var (name, bytes) in new[] { ("raw", Idx([2, 3, 4], data)), ("gz", Gzip(Idx([2, 3, 4], data))) })
        {
            var array = Engine.Data.Idx.Read(Write(name, bytes));
            Assert.That(array.Dimensions, Is.EqualTo(new[] { 2, 3, 4 }), name);
            Assert.That(array.Data, Is.EqualTo(data), name);
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TruncatedData(bool gzip)
    {
        var raw = Idx([10, 28, 28], new byte[10 * 28 * 28])[..^100];
        AssertInvalid(Write("t", gzip ? Gzip(raw) : raw), "truncated", "expected 7840 bytes", "found 7740");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TruncatedHeader(bool gzip)
    {
        var raw = Idx([10, 28, 28], [])[..9];
        AssertInvalid(Write("h", gzip ? Gzip(raw) : raw), "truncated while reading dimension 1");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void BadMagic(bool gzip)
    {
        var raw = Idx([2], [1, 2]);
        raw[0] = 0x12;
        AssertInvalid(Write("m", gzip ? Gzip(raw) : raw), "expected a magic number starting 0x0000", "got 0x1200");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void WrongDataType(bool gzip)
    {
        var raw = Idx([2], [1, 2], type: 0x0D);
        AssertInvalid(Write("d", gzip ? Gzip(raw) : raw), "expected unsigned-byte data (type 0x08), got type 0x0d");
    }

    [Test]
    public void ZeroDimension() => AssertInvalid(Write("z", Idx([3, 0], [])), "dimension 1 is 0", "expected a positive size");

    [Test]
    public void DataPastTheDeclaredSize() => AssertInvalid(Write("p", Idx([2], [1, 2, 3])), "data past the 2 bytes");

    /// <summary>A gzip stream cut short or with garbage after its magic: a clear error, never a crash or a hang.</summary>
    [Test]
    public void CorruptGzip()
    {
        var gz = Gzip(Idx([100, 28, 28], Enumerable.Range(0, 100 * 28 * 28).Select(i => (byte)(i * 7)).ToArray()));
        var cut = Write("cut.gz", gz[..(gz.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => Engine.Data.Idx.Read(cut));
        Assert.That(e!.Message, Does.Contain($"IDX file '{cut}'"));

        var garbage = gz.ToArray();
        for (int i = 10; i < garbage.Length; i++) garbage[i] = (byte)(i * 31);
        var bad = Write("garbage.gz", garbage);
        e = Assert.Throws<InvalidDataException>(() => Engine.Data.Idx.Read(bad));
        Assert.That(e!.Message, Does.Contain($"IDX file '{bad}'"));
    }

    [Test]
    public void EmptyFile() => AssertInvalid(Write("e", []), "truncated while reading the 4-byte magic number");

    [Test]
    public void MissingFile()
    {
        var path = Path.Combine(_dir, "absent");
        var e = Assert.Throws<FileNotFoundException>(() => Engine.Data.Idx.Read(path));
        Assert.That(e!.Message, Does.Contain($"IDX file '{path}' does not exist"));
    }

    [Test]
    public void LabelCountNotMatchingImageCount()
    {
        var images = Write("images", Idx([3, 2, 2], new byte[12]));
        var labels = Write("labels", Idx([2], [1, 2]));
        var e = Assert.Throws<InvalidDataException>(() => Dataset.FromIdx(images, labels));
        Assert.That(e!.Message, Does.Contain("labels do not match images").And.Contain("2 labels").And.Contain("3 images"));
    }

    [Test]
    public void LabelOutsideTheClasses()
    {
        var images = Write("images", Idx([2, 2, 2], new byte[8]));
        var labels = Write("labels", Idx([2], [1, 11]));
        var e = Assert.Throws<InvalidDataException>(() => Dataset.FromIdx(images, labels));
        Assert.That(e!.Message, Does.Contain("label 1 is 11").And.Contain("[0, 10)"));
    }

    [Test]
    public void ImagesOfTheWrongRank()
    {
        var images = Write("images", Idx([2, 4], new byte[8]));
        var labels = Write("labels", Idx([2], [1, 1]));
        var e = Assert.Throws<InvalidDataException>(() => Dataset.FromIdx(images, labels));
        Assert.That(e!.Message, Does.Contain("expected images N x H x W").And.Contain("2x4"));
    }

    [Test]
    public void MissingDataDirectory()
    {
        var missing = Path.Combine(_dir, "no-such-dir");
        var e = Assert.Throws<DirectoryNotFoundException>(() => Dataset.MnistFromDirectory(missing));
        Assert.That(e!.Message, Does.Contain($"data directory '{missing}' does not exist"));
    }

    [Test]
    public void DataDirectoryWithoutMnistFiles()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Dataset.MnistFromDirectory(_dir));
        Assert.That(e!.Message, Does.Contain("has no 'train-images-idx3-ubyte' or 'train-images-idx3-ubyte.gz'"));
    }
}
