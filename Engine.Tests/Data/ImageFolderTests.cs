using Engine.Data;
using Engine.Imaging;
using NUnit.Framework;

namespace Engine.Tests.Data;

public class ImageFolderTests
{
    private DirectoryInfo directory = null!;

    [SetUp]
    public void MakeDirectory() => directory = Directory.CreateTempSubdirectory("image-folder-");

    [TearDown]
    public void RemoveDirectory() => directory.Delete(recursive: true);

    private string Write(string cls, string name, Image image)
    {
        Directory.CreateDirectory(Path.Combine(directory.FullName, cls));
        var path = Path.Combine(directory.FullName, cls, name);
        image.Save(path);
        return path;
    }

    private static Image Solid(int width, int height, int channels, params byte[] value)
    {
        var image = new Image(width, height, channels);
        for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] = value[i % channels];
        return image;
    }

    [Test]
    public void ClassesComeFromFolderNamesAndLabelsFollowTheFiles()
    {
        Write("dog", "b.png", Solid(4, 3, 3, 10, 20, 30));
        Write("dog", "a.ppm", Solid(4, 3, 3, 40, 50, 60));
        Write("cat", "z.png", Solid(4, 3, 4, 70, 80, 90, 128));
        File.WriteAllText(Path.Combine(directory.FullName, "cat", "notes.txt"), "skipped");
        var data = ImageFolder.Load(directory.FullName, normalization: ChannelNormalization.Identity(3));
        Assert.That(data.ClassNames, Is.EqualTo(new[] { "cat", "dog" }));
        Assert.That(data.Labels, Is.EqualTo(new[] { 0, 1, 1 }));
        Assert.That(data.ItemShape, Is.EqualTo(new Shape(3, 3, 4)));
        // Item 1 is dog/a.ppm (ordinal order): its green plane is 50/255 everywhere; alpha of cat/z.png is dropped.
        Assert.That(data.Images.AsSpan(1 * 36 + 12, 12).ToArray(), Is.All.EqualTo(50f / 255f).Within(1e-7));
        Assert.That(data.Images.AsSpan(0 * 36 + 24, 12).ToArray(), Is.All.EqualTo(90f / 255f).Within(1e-7));
    }

    [Test]
    public void ComputedNormalizationGivesZeroMeanUnitStdPerChannel()
    {
        Write("a", "1.pgm", Solid(2, 2, 1, 0));
        Write("b", "2.pgm", Solid(2, 2, 1, 255));
        Write("b", "3.png", Solid(2, 2, 1, 51));
        var data = ImageFolder.Load(directory.FullName);
        Assert.That(data.ItemShape, Is.EqualTo(new Shape(1, 2, 2)));
        // Values 0, 1, 0.2 (four pixels each): mean 0.4, population std sqrt(((0.4)^2 + 0.6^2 + 0.2^2) / 3).
        Assert.That(data.Normalization!.Mean[0], Is.EqualTo(0.4f).Within(1e-6));
        Assert.That(data.Normalization.Std[0], Is.EqualTo(Math.Sqrt((0.16 + 0.36 + 0.04) / 3)).Within(1e-6));
        Assert.That(data.Images.Average(), Is.EqualTo(0).Within(1e-6));
        Assert.That(data.Images.Select(v => v * (double)v).Average(), Is.EqualTo(1).Within(1e-5));
    }

    [Test]
    public void DifferentSizesAreAnErrorUnlessResized()
    {
        Write("a", "1.png", Solid(4, 4, 1, 100));
        var odd = Write("b", "2.png", Solid(8, 2, 1, 100));
        var message = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(directory.FullName))!.Message;
        Assert.That(message, Does.Contain(odd).And.Contain("expected 4x4").And.Contain("got 8x2"));
        var resized = ImageFolder.Load(directory.FullName, size: (3, 5), normalization: ChannelNormalization.Identity(1));
        Assert.That(resized.ItemShape, Is.EqualTo(new Shape(1, 5, 3)));
        Assert.That(resized.Images, Is.All.EqualTo(100f / 255f).Within(1e-6), "a constant image stays constant when resized");
    }

    [Test]
    public void AnUnreadableImageNamesTheFile()
    {
        Write("a", "1.png", Solid(2, 2, 1, 1));
        var bad = Path.Combine(directory.FullName, "a", "2.png");
        File.WriteAllBytes(bad, [.. Png.Encode(Solid(2, 2, 1, 1))[..30]]);
        var message = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(directory.FullName))!.Message;
        Assert.That(message, Does.Contain(bad).And.Contain("truncated"));
    }

    [Test]
    public void AnEmptyClassFolderIsAnError()
    {
        Write("a", "1.png", Solid(2, 2, 1, 1));
        Directory.CreateDirectory(Path.Combine(directory.FullName, "empty"));
        Assert.That(Assert.Throws<InvalidDataException>(() => ImageFolder.Load(directory.FullName))!.Message, Does.Contain("'empty' has no PNG"));
    }
}
