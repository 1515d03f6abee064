using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Engine.Serialization;
using NUnit.Framework;

namespace Engine.Tests.Serialization;

/// <summary>Cases the loader fuzzing (LoaderFuzzTests) found, each pinned as it was found.</summary>
[TestFixture]
public sealed class LoaderRegressionTests
{
    private static readonly string Fixtures = Path.Combine(Path.GetTempPath(), "engine-torch-fixtures");

    private static string Fixture(string name)
    {
        string path = Path.Combine(Fixtures, name);
        if (!File.Exists(path)) Assert.Ignore($"{path} is missing; run scripts/onnx-torch-fixtures.sh (needs Debian's python3-torch)");
        return path;
    }

    private static (Exception? Thrown, long Allocated) Measure(Action load)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Exception? thrown = null;
        try { load(); }
        catch (Exception e) { thrown = e; }
        return (thrown, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>
    /// Found by a byte flip in the central directory: the entry's declared size was trusted and allocated up front
    /// (1.7 GB for a 7 KB file). Now the bytes are read in chunks and checked against the declared size.
    /// </summary>
    [Test]
    public void AZipEntryDeclaringMoreBytesThanItHasIsRefusedWithoutAllocatingThem()
    {
        var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open();
            s.Write(Encoding.Latin1.GetBytes("\u0080\u0002}."));
        }
        var bytes = stream.ToArray();
        // Central directory header (PK\1\2): the uncompressed size is at offset 24.
        int central = bytes.AsSpan().IndexOf("PK\u0001\u0002"u8);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(central + 24), 0x7FFF_FF00);
        var (thrown, allocated) = Measure(() => TorchPickle.Load(new MemoryStream(bytes), "lying.pt"));
        Assert.That(thrown, Is.InstanceOf<InvalidDataException>());
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated");
    }

    [Test]
    public void ATensorWithMoreElementsThanItsStorageIsRefusedWithoutAllocatingThem()
    {
        var (thrown, allocated) = Measure(() => TorchPickle.Load(Fixture("expanded.pt")));
        Assert.That(thrown, Is.InstanceOf<InvalidDataException>());
        Assert.That(thrown!.Message, Does.Contain("500000000 elements, more than its storage"));
        Assert.That(allocated, Is.LessThan(16L << 20), "bytes allocated");
    }

    /// <summary>A dimension above int's range was cast to a negative int, and Shape threw an ArgumentException.</summary>
    [Test]
    public void ADimensionAboveIntRangeIsInvalidData()
    {
        var e = Assert.Throws<InvalidDataException>(() => StateDictFile.Load(Fixture("empty-huge.pt")))!;
        Assert.That(e.Message, Does.Contain("size outside [0, 2147483647] (0,3000000000)"));
    }
}
