using Engine.Data;
using NUnit.Framework;

namespace Engine.Tests.Data;

/// <summary>CIFAR binary readers on files generated here in the exact record layout.</summary>
public class CifarTests
{
    private DirectoryInfo directory = null!;

    [SetUp]
    public void MakeDirectory() => directory = Directory.CreateTempSubdirectory("cifar-");

    [TearDown]
    public void RemoveDirectory() => directory.Delete(recursive: true);

    /// <summary>The pixel byte of record <paramref name="record"/> of file <paramref name="file"/> at (c, y, x).</summary>
    private static byte Pixel(int file, int record, int c, int y, int x) => (byte)(file * 31 + record * 7 + c * 50 + y * 3 + x);

    /// <summary>Records of [label bytes..., 1024 R, 1024 G, 1024 B], rows top to bottom.</summary>
    private static byte[] Records(int file, int count, Func<int, byte[]> labels)
    {
        using var bytes = new MemoryStream();
        for (int r = 0; r < count; r++)
        {
            bytes.Write(labels(r));
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        bytes.WriteByte(Pixel(file, r, c, y, x));
        }
        return bytes.ToArray();
    }

    private static void WriteCifar10(string root, int perFile)
    {
        Directory.CreateDirectory(root);
        for (int f = 0; f < 5; f++) File.WriteAllBytes(Path.Combine(root, $"data_batch_{f + 1}.bin"), Records(f, perFile, r => [(byte)((f + r) % 10)]));
        File.WriteAllBytes(Path.Combine(root, "test_batch.bin"), Records(5, perFile, r => [(byte)(9 - r % 10)]));
        File.WriteAllLines(Path.Combine(root, "batches.meta.txt"), ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck", ""]);
    }

    [Test]
    public void Cifar10ReadsEveryBatchInOrderWithPerChannelNormalization()
    {
        WriteCifar10(Path.Combine(directory.FullName, "cifar-10-batches-bin"), perFile: 3);
        var (train, test) = Cifar.Cifar10FromDirectory(directory.FullName);
        Assert.That((train.Count, test.Count, train.ItemShape, train.Classes), Is.EqualTo((15, 3, new Shape(3, 32, 32), 10)));
        Assert.That(train.Labels, Is.EqualTo(Enumerable.Range(0, 15).Select(i => (i / 3 + i % 3) % 10)));
        Assert.That(test.Labels, Is.EqualTo(new[] { 9, 8, 7 }));
        Assert.That(train.ClassNames, Is.EqualTo(new[] { "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck" }));
        var norm = ChannelNormalization.Cifar10;
        foreach (var (n, c, y, x) in new[] { (0, 0, 0, 0), (4, 1, 5, 17), (14, 2, 31, 31) })
        {
            float expected = (Pixel(n / 3, n % 3, c, y, x) / 255f - norm.Mean[c]) / norm.Std[c];
            Assert.That(train.Images[n * 3072 + c * 1024 + y * 32 + x], Is.EqualTo(expected).Within(1e-5), $"image {n} ({c},{y},{x})");
        }
    }

    [Test]
    public void Cifar100KeepsTheFineOrCoarseLabel()
    {
        var root = directory.FullName;
        foreach (var name in new[] { "train.bin", "test.bin" })
            File.WriteAllBytes(Path.Combine(root, name), Records(0, 4, r => [(byte)(19 - r), (byte)(90 + r)]));
        var (fine, _) = Cifar.Cifar100FromDirectory(root);
        var (coarse, coarseTest) = Cifar.Cifar100FromDirectory(root, CifarLabels.Coarse);
        Assert.That((fine.Classes, fine.Labels), Is.EqualTo((100, new[] { 90, 91, 92, 93 })));
        Assert.That((coarse.Classes, coarse.Labels), Is.EqualTo((20, new[] { 19, 18, 17, 16 })));
        var norm = ChannelNormalization.Cifar100;
        Assert.That(coarseTest.Images[3 * 3072 + 2 * 1024 + 10], Is.EqualTo((Pixel(0, 3, 2, 0, 10) / 255f - norm.Mean[2]) / norm.Std[2]).Within(1e-5));
    }

    [Test]
    public void AWrongRecordSizeNamesTheFile()
    {
        var path = Path.Combine(directory.FullName, "data_batch_1.bin");
        File.WriteAllBytes(path, [.. Records(0, 2, r => [1]), 0, 0, 0, 0, 0]);
        var message = Assert.Throws<InvalidDataException>(() => Cifar.LoadCifar10([path]))!.Message;
        Assert.That(message, Does.Contain(path).And.Contain("3073-byte records").And.Contain("2 records and 5 bytes over"));
        // A CIFAR-10 batch read as CIFAR-100 (3074-byte records) does not divide either.
        File.WriteAllBytes(path, Records(0, 2, r => [1]));
        Assert.That(Assert.Throws<InvalidDataException>(() => Cifar.LoadCifar100(path))!.Message, Does.Contain("3074-byte records"));
    }

    [Test]
    public void ALabelOutOfRangeAndAMissingFileAreNamed()
    {
        var path = Path.Combine(directory.FullName, "test_batch.bin");
        File.WriteAllBytes(path, Records(0, 3, r => [(byte)(r == 2 ? 10 : 0)]));
        Assert.That(Assert.Throws<InvalidDataException>(() => Cifar.LoadCifar10([path]))!.Message,
            Does.Contain(path).And.Contain("record 2 has label 10"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => Cifar.Cifar10FromDirectory(directory.FullName))!.Message,
            Does.Contain("data_batch_1.bin"));
    }
}
