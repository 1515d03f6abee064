using Engine.Data;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Data;

public class AugmentationTests
{
    private static readonly ItemGeometry Three = new(1, 3, 3);

    // 1 x 3 x 3:  1 2 3 / 4 5 6 / 7 8 9
    private static float[] Grid() => [1, 2, 3, 4, 5, 6, 7, 8, 9];

    [Test]
    public void ShiftMatchesAHandComputedCropOfThePaddedImage()
    {
        var item = Grid();
        // out[y, x] = in[y + 1, x - 1]: rows move up one, columns right one, fill -1 where nothing maps.
        RandomCrop.Shift(item, Three, 1, -1, -1f);
        Assert.That(item, Is.EqualTo(new float[] { -1, 4, 5, -1, 7, 8, -1, -1, -1 }));
    }

    [Test]
    public void FlipMirrorsEveryRowOfEveryChannel()
    {
        float[] item = [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60];
        var random = new SampleRandom(0, 0, 0);
        new HorizontalFlip(1f).Apply(item, new ItemGeometry(2, 2, 3), ref random);
        Assert.That(item, Is.EqualTo(new float[] { 3, 2, 1, 6, 5, 4, 30, 20, 10, 60, 50, 40 }));
        new HorizontalFlip(0f).Apply(item, new ItemGeometry(2, 2, 3), ref random);
        Assert.That(item[0], Is.EqualTo(3f), "probability 0 leaves the item alone");
    }

    [Test]
    public void AffineQuarterTurnAndIntegerShiftMatchHandComputedResults()
    {
        var turned = Grid();
        // A counter-clockwise quarter turn on screen: the right column becomes the top row.
        RandomAffine.Rotate(turned, Three, MathF.PI / 2, 0, 0, 0f);
        Assert.That(turned, Is.EqualTo(new float[] { 3, 6, 9, 2, 5, 8, 1, 4, 7 }).Within(1e-5));
        var shifted = Grid();
        RandomAffine.Rotate(shifted, Three, 0, 1, 0, 0f);
        Assert.That(shifted, Is.EqualTo(new float[] { 0, 1, 2, 0, 4, 5, 0, 7, 8 }), "a shift of +1 in x moves content right");
        var half = Grid();
        RandomAffine.Rotate(half, Three, 0, 0.5f, 0, 0f);
        Assert.That(half[1], Is.EqualTo(1.5f).Within(1e-6), "half-pixel shifts interpolate bilinearly");
    }

    [Test]
    public void ErasingFillsARectangleOnEveryChannel()
    {
        var item = Enumerable.Range(1, 18).Select(v => (float)v).ToArray();
        RandomErasing.Erase(item, new ItemGeometry(2, 3, 3), top: 1, left: 1, h: 2, w: 1, value: 0f);
        Assert.That(item, Is.EqualTo(new float[] { 1, 2, 3, 4, 0, 6, 7, 0, 9, 10, 11, 12, 13, 0, 15, 16, 0, 18 }));
    }

    [Test]
    public void RandomErasingAlwaysErasesOneRectangleWithinTheAreaBounds()
    {
        var g = new ItemGeometry(1, 32, 32);
        for (int sample = 0; sample < 200; sample++)
        {
            var item = Enumerable.Repeat(1f, g.Size).ToArray();
            new Augmentation(new RandomErasing(Probability: 1f, Value: 0f)).Apply(item, g, 3, 0, sample);
            var erased = Enumerable.Range(0, g.Size).Where(i => item[i] == 0).ToArray();
            if (erased.Length == 0) continue; // every one of the 10 draws can miss; rare
            int top = erased.Min() / 32, bottom = erased.Max() / 32, left = erased.Min(i => i % 32), right = erased.Max(i => i % 32);
            Assert.That(erased.Length, Is.EqualTo((bottom - top + 1) * (right - left + 1)), $"sample {sample}: one solid rectangle");
            Assert.That(erased.Length, Is.InRange(0.02 * 1024 / 2, 0.33 * 1024 * 1.5), $"sample {sample}: area near [0.02, 0.33] of the image");
        }
    }

    [Test]
    public void NormalizeIsPerChannel()
    {
        float[] item = [0.5f, 1f, 0.2f, 0.4f];
        var random = new SampleRandom(0, 0, 0);
        new Normalize(new ChannelNormalization([0.5f, 0.2f], [0.25f, 0.1f])).Apply(item, new ItemGeometry(2, 1, 2), ref random);
        Assert.That(item, Is.EqualTo(new[] { 0f, 2f, 0f, 2f }).Within(1e-6));
    }

    [Test]
    public void RandomCropIsAlwaysAShiftWithinThePadding()
    {
        var g = new ItemGeometry(2, 5, 6);
        var source = Enumerable.Range(1, g.Size).Select(v => (float)v).ToArray();
        var crop = new Augmentation(new RandomCrop(2, Fill: -7f));
        var seen = new HashSet<(int, int)>();
        for (int sample = 0; sample < 300; sample++)
        {
            var item = (float[])source.Clone();
            crop.Apply(item, g, 11, 1, sample);
            var match = (from dy in Enumerable.Range(-2, 5) from dx in Enumerable.Range(-2, 5)
                         let shifted = Shifted(source, g, dy, dx)
                         where shifted.SequenceEqual(item) select (dy, dx)).ToList();
            Assert.That(match, Has.Count.EqualTo(1), $"sample {sample}");
            seen.Add(match[0]);
        }
        Assert.That(seen, Has.Count.EqualTo(25), "every offset in [-2, 2]^2 occurs");
    }

    private static float[] Shifted(float[] source, ItemGeometry g, int dy, int dx)
    {
        var copy = (float[])source.Clone();
        RandomCrop.Shift(copy, g, dy, dx, -7f);
        return copy;
    }

    [Test]
    public void ThePipelineDependsOnlyOnSeedEpochAndSample()
    {
        var g = new ItemGeometry(3, 8, 8);
        var pipeline = new Augmentation(new RandomCrop(2), new HorizontalFlip(), new RandomAffine(10, 0.1f), new RandomErasing());
        var source = Enumerable.Range(0, g.Size).Select(v => MathF.Sin(v)).ToArray();
        float[] Run(ulong seed, int epoch, int sample)
        {
            var item = (float[])source.Clone();
            pipeline.Apply(item, g, seed, epoch, sample);
            return item;
        }
        Prop.ForAll(Arb.From(Gen.Choose(0, 1000)), Arb.From(Gen.Choose(0, 50)), (sample, epoch) =>
        {
            Assert.That(Run(5, epoch, sample), Is.EqualTo(Run(5, epoch, sample)), "same keys, same result");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(50));
        int differing = Enumerable.Range(0, 20).Count(s => !Run(5, 0, s).SequenceEqual(Run(5, 1, s)));
        Assert.That(differing, Is.GreaterThan(15), "another epoch draws again");
        Assert.That(Enumerable.Range(0, 20).Count(s => !Run(5, 0, s).SequenceEqual(Run(6, 0, s))), Is.GreaterThan(15), "another seed draws again");
    }
}
