using System.Text;
using Engine.Imaging;
using NUnit.Framework;

namespace Engine.Tests.Imaging;

public class PnmTests
{
    private static Image Decode(string text) => Pnm.Decode(Encoding.ASCII.GetBytes(text), "test.pnm");

    private static Image Decode(string header, byte[] samples) => Pnm.Decode([.. Encoding.ASCII.GetBytes(header), .. samples], "test.pnm");

    [Test]
    public void AsciiGreyWithCommentsAndMaxvalScaling()
    {
        // maxval 15: v -> round(v * 255 / 15) = 17 v.
        var image = Decode("P2\n# a comment\n3 2 # trailing comment\n15\n0 1 2\n\n3 14 15\n");
        Assert.That((image.Width, image.Height, image.Channels), Is.EqualTo((3, 2, 1)));
        Assert.That(image.Pixels, Is.EqualTo(new byte[] { 0, 17, 34, 51, 238, 255 }));
    }

    [Test]
    public void AsciiColour()
    {
        var image = Decode("P3 2 1 255 1 2 3 250 251 252");
        Assert.That((image.Width, image.Height, image.Channels), Is.EqualTo((2, 1, 3)));
        Assert.That(image.Pixels, Is.EqualTo(new byte[] { 1, 2, 3, 250, 251, 252 }));
    }

    [Test]
    public void BinaryGreyAndColour()
    {
        var grey = Decode("P5\n2 2\n255\n", [0, 10, 200, 255]);
        Assert.That(grey.Pixels, Is.EqualTo(new byte[] { 0, 10, 200, 255 }));
        var colour = Decode("P6 1 2 255\n", [1, 2, 3, 4, 5, 6]);
        Assert.That((colour.Width, colour.Height, colour.Channels), Is.EqualTo((1, 2, 3)));
        Assert.That(colour[1, 0, 2], Is.EqualTo(6));
    }

    [Test]
    public void SixteenBitBinaryIsScaledToEightBits()
    {
        // maxval 1000, big-endian samples 0, 500, 1000 -> 0, round(127.5) = 128, 255.
        var image = Decode("P5 3 1 1000\n", [0, 0, 0x01, 0xF4, 0x03, 0xE8]);
        Assert.That(image.Pixels, Is.EqualTo(new byte[] { 0, 128, 255 }));
    }

    [Test]
    public void EncodeThenDecodeIsTheIdentity()
    {
        var rng = new System.Random(5);
        foreach (int channels in new[] { 1, 3 })
        {
            var pixels = new byte[7 * 4 * channels];
            rng.NextBytes(pixels);
            var image = new Image(7, 4, channels, pixels);
            Assert.That(Pnm.Decode(Pnm.Encode(image), "round trip").Pixels, Is.EqualTo(pixels));
        }
    }

    [TestCase("P5 4 4 255\n\u0001\u0002", "truncated")]
    [TestCase("P2 2 2 255 1 2 3", "truncated")]
    [TestCase("P2 2 1 100 1 200", "above maxval 100")]
    [TestCase("P5 0 4 255\n", "dimensions 0x4")]
    [TestCase("P6 x 4 255\n", "decimal number for the width")]
    [TestCase("P5 2 2 70000\n", "maxval 70000")]
    public void BadFilesAreClearErrors(string text, string problem)
    {
        var message = Assert.Throws<InvalidDataException>(() => Decode(text))!.Message;
        Assert.That(message, Does.Contain("test.pnm").And.Contain(problem));
    }
}
