using Engine.Cpu;
using Engine.Data;
using Engine.Imaging;
using NUnit.Framework;

namespace Engine.Tests.Data;

/// <summary>The generated shapes, image/mask folders and the segmentation loader.</summary>
public class SegmentationDataTests
{
    private static (float[] Image, float[] Mask) Sample(ShapesSource source, int index)
    {
        int plane = source.Size * source.Size;
        var image = new float[plane];
        var mask = new float[plane];
        source.Fill(index, image, mask);
        return (image, mask);
    }

    [Test]
    public void ShapesAreReproducibleAndStreamsDiffer()
    {
        var a = new ShapesSource(8, 32, seed: 5);
        var b = new ShapesSource(8, 32, seed: 5);
        for (int i = 0; i < 8; i++)
        {
            Assert.That(Sample(a, i).Image, Is.EqualTo(Sample(b, i).Image), $"sample {i}: image");
            Assert.That(Sample(a, i).Mask, Is.EqualTo(Sample(b, i).Mask), $"sample {i}: mask");
        }
        var test = new ShapesSource(8, 32, seed: 5, stream: 1);
        Assert.That(Sample(test, 0).Mask, Is.Not.EqualTo(Sample(a, 0).Mask), "the test stream draws other shapes");
        Assert.That(Sample(a.Next(), 0).Mask, Is.EqualTo(Sample(new ShapesSource(8, 32, seed: 5, first: 8), 0).Mask), "Next() continues the stream");
        Assert.That(Sample(new ShapesSource(8, 32, seed: 6), 0).Mask, Is.Not.EqualTo(Sample(a, 0).Mask), "another seed, other shapes");
    }

    [Test]
    public void MasksAreBinaryWithSensibleCoverageAndTheImageShowsThem()
    {
        var source = new ShapesSource(200, 64, seed: 3);
        double coverage = 0;
        for (int i = 0; i < source.Count; i++)
        {
            var (image, mask) = Sample(source, i);
            Assert.That(mask.All(v => v is 0f or 1f), $"sample {i}: mask values are 0 or 1");
            Assert.That(image.All(v => v is >= 0f and <= 1f), $"sample {i}: pixels in [0, 1]");
            int foreground = mask.Count(v => v == 1f);
            Assert.That(foreground, Is.Positive, $"sample {i} has at least one figure");
            coverage += (double)foreground / mask.Length;
            // Figures differ from the background around them by at least 0.25 before noise (sigma <= 0.12): the mean
            // |difference| between a foreground pixel and its background 4-neighbours is clearly positive.
            double edge = 0;
            int pairs = 0;
            for (int y = 1; y < 63; y++)
                for (int x = 1; x < 63; x++)
                    if (mask[y * 64 + x] == 1f && mask[y * 64 + x + 1] == 0f)
                    {
                        edge += Math.Abs(image[y * 64 + x] - image[y * 64 + x + 1]);
                        pairs++;
                    }
            if (pairs > 0) Assert.That(edge / pairs, Is.GreaterThan(0.1), $"sample {i}: the figure's edge is visible");
        }
        Assert.That(coverage / source.Count, Is.InRange(0.05, 0.4), "figures cover a minority of the pixels on average");
    }

    [Test]
    public void LoaderBatchesImagesWithTheirMasksInAShuffledReproducibleOrder()
    {
        using var backend = new CpuBackend(1);
        var source = new ShapesSource(10, 16, seed: 2);
        var loader = new SegmentationLoader(source, 4, shuffle: true, seed: 9);
        Assert.That(loader.Order(0), Is.EqualTo(loader.Order(0)));
        Assert.That(loader.Order(0), Is.Not.EqualTo(loader.Order(1)), "each epoch has its own order");
        Assert.That(loader.Order(0).Order(), Is.EqualTo(Enumerable.Range(0, 10)), "a permutation");
        using var scope = Scope.Begin();
        var batches = loader.Batches(backend, 0).ToList();
        Assert.That(batches.Select(b => b.Count), Is.EqualTo(new[] { 4, 4, 2 }));
        var first = batches[0];
        Assert.That(first.Images.Shape, Is.EqualTo(new Shape(4, 1, 16, 16)));
        Assert.That(first.Masks.Shape, Is.EqualTo(new Shape(4, 1, 16, 16)));
        var (image, mask) = Sample(source, first.Indices[1]);
        Assert.That(first.Images.ToArray().AsSpan(256, 256).ToArray(), Is.EqualTo(image));
        Assert.That(first.Masks.ToArray().AsSpan(256, 256).ToArray(), Is.EqualTo(mask));
    }

    [Test]
    public void MaskFolderPairsImagesWithMasksByName()
    {
        var root = Directory.CreateTempSubdirectory("mask-folder-");
        try
        {
            foreach (var split in new[] { "train", "test" })
                foreach (var folder in new[] { "images", "masks" })
                    Directory.CreateDirectory(Path.Combine(root.FullName, split, folder));
            // Image b: pixel values 0..5; its mask marks pixels 1 and 4 (values 200 and 128 count, 127 does not).
            new Image(3, 2, 1, [0, 1, 2, 3, 4, 5]).Save(Path.Combine(root.FullName, "train", "images", "b.png"));
            new Image(3, 2, 1, [0, 200, 127, 0, 128, 0]).Save(Path.Combine(root.FullName, "train", "masks", "b.pgm"));
            new Image(3, 2, 1, [9, 9, 9, 9, 9, 9]).Save(Path.Combine(root.FullName, "train", "images", "a.png"));
            new Image(3, 2, 1, [255, 0, 0, 0, 0, 0]).Save(Path.Combine(root.FullName, "train", "masks", "a.png"));
            new Image(3, 2, 1, [1, 1, 1, 1, 1, 1]).Save(Path.Combine(root.FullName, "test", "images", "c.png"));
            new Image(3, 2, 1, [0, 0, 0, 0, 0, 0]).Save(Path.Combine(root.FullName, "test", "masks", "c.png"));
            var (train, test) = MaskFolder.LoadSplits(root.FullName);
            Assert.That(train.Count, Is.EqualTo(2));
            Assert.That(test.Count, Is.EqualTo(1));
            Assert.That(train.ItemShape, Is.EqualTo(new Shape(1, 2, 3)));
            // Ordinal order: a, then b.
            Assert.That(train.Masks, Is.EqualTo(new float[] { 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0 }));
            Assert.That(train.Images.AsSpan(6, 6).ToArray(), Is.EqualTo(new[] { 0f, 1, 2, 3, 4, 5 }.Select(v => v / 255f).ToArray()).Within(1e-7f));

            File.Delete(Path.Combine(root.FullName, "test", "masks", "c.png"));
            var e = Assert.Throws<FileNotFoundException>(() => MaskFolder.LoadSplits(root.FullName));
            Assert.That(e!.Message, Does.Contain("c.png").And.Contain("has no mask"));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
