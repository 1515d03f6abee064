using Engine.Imaging;
using NUnit.Framework;

namespace Engine.Tests.Imaging;

public class ImageTests
{
    [Test]
    public void ToChwSeparatesInterleavedChannels()
    {
        // 2x1 RGB: pixels (10,20,30), (40,50,60) -> planes R = [10,40], G = [20,50], B = [30,60].
        var image = new Image(2, 1, 3, [10, 20, 30, 40, 50, 60]);
        Assert.That(image.ToChw(1f), Is.EqualTo(new float[] { 10, 40, 20, 50, 30, 60 }));
        Assert.That(image.ToChw()[1], Is.EqualTo(40f / 255f).Within(1e-7));
    }

    [Test]
    public void FromChwInvertsToChwAndClamps()
    {
        var image = new Image(3, 2, 2, [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
        Assert.That(Image.FromChw(image.ToChw(), 2, 2, 3).Pixels, Is.EqualTo(image.Pixels));
        Assert.That(Image.FromChw([-1f, 0.5f, 2f], 1, 1, 3, low: 0f, high: 1f).Pixels, Is.EqualTo(new byte[] { 0, 128, 255 }));
    }

    [Test]
    public void ChannelConversions()
    {
        var rgb = new Image(1, 1, 3, [100, 150, 200]);
        // Rec. 601 luma: 0.299*100 + 0.587*150 + 0.114*200 = 140.75 -> 141.
        Assert.That(rgb.WithChannels(1).Pixels, Is.EqualTo(new byte[] { 141 }));
        Assert.That(rgb.WithChannels(4).Pixels, Is.EqualTo(new byte[] { 100, 150, 200, 255 }));
        Assert.That(new Image(1, 1, 2, [7, 9]).WithChannels(3).Pixels, Is.EqualTo(new byte[] { 7, 7, 7 }));
        Assert.That(new Image(1, 1, 4, [1, 2, 3, 4]).WithChannels(2).Pixels, Is.EqualTo(new byte[] { 2, 4 }));
    }

    [Test]
    public void ResizeHalvesByAveragingPairsAndDoublesByInterpolating()
    {
        // 4x1 -> 2x1: source x = (x + 0.5) * 2 - 0.5 = 0.5, 2.5: the means of pixels (0,1) and (2,3).
        var row = new Image(4, 1, 1, [0, 100, 200, 250]);
        Assert.That(row.Resize(2, 1).Pixels, Is.EqualTo(new byte[] { 50, 225 }));
        // 2x1 -> 4x1: source x = (x + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to pixel 1).
        var two = new Image(2, 1, 1, [0, 200]);
        Assert.That(two.Resize(4, 1).Pixels, Is.EqualTo(new byte[] { 0, 50, 150, 200 }));
        Assert.That(row.Resize(4, 1), Is.SameAs(row));
    }

    [Test]
    public void SaveWritesPngOrPnmByExtension()
    {
        var image = new Image(3, 2, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
        var directory = Directory.CreateTempSubdirectory("image-save-");
        try
        {
            foreach (var name in new[] { "a.png", "a.ppm" })
            {
                var path = Path.Combine(directory.FullName, name);
                image.Save(path);
                Assert.That(Image.Load(path).Pixels, Is.EqualTo(image.Pixels), name);
            }
            Assert.That(Directory.GetFiles(directory.FullName, "*.tmp"), Is.Empty, "temporary files renamed into place");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
