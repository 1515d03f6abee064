using Engine.Data;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>Batching and seeded shuffling: every epoch is a permutation, reproducible from (seed, epoch).</summary>
public abstract class DataLoaderTests : BackendFixture
{
    /// <summary>Items of 1 x 2 x 2 whose pixels all equal the item's index; label = index mod 10.</summary>
    private static Dataset Numbered(int count)
    {
        var images = new float[count * 4];
        for (int i = 0; i < images.Length; i++) images[i] = i / 4;
        return new Dataset(images, Enumerable.Range(0, count).Select(i => i % 10).ToArray(), new Shape(1, 2, 2), 10);
    }

    [Test]
    public void ShuffledOrderIsAReproduciblePermutation() => Properties.Check(
        from count in Gen.Choose(1, 300) from seed in Gen.Choose(0, 1000) from epoch in Gen.Choose(0, 5) select (count, seed, epoch),
        c =>
        {
            var loader = new DataLoader(Numbered(c.count), 7, shuffle: true, seed: (ulong)c.seed);
            var order = loader.Order(c.epoch);
            Expect.That(order.Order().SequenceEqual(Enumerable.Range(0, c.count)), $"{c}: the order is not a permutation");
            Expect.That(order.SequenceEqual(new DataLoader(Numbered(c.count), 7, shuffle: true, seed: (ulong)c.seed).Order(c.epoch)), $"{c}: not reproducible");
            if (c.count >= 20)
            {
                Expect.That(!order.SequenceEqual(loader.Order(c.epoch + 1)), $"{c}: the next epoch has the same order");
                Expect.That(!order.SequenceEqual(Enumerable.Range(0, c.count)), $"{c}: the shuffle left the order unchanged");
            }
        }, runs: 50);

    [Test]
    public void BatchesFollowTheOrderAndKeepTheShortLastBatch()
    {
        var data = Numbered(10);
        var loader = new DataLoader(data, 4, shuffle: true, seed: 3);
        var order = loader.Order(2);
        var batches = loader.Batches(Backend, epoch: 2).ToList();
        Assert.That(batches.Select(b => b.Count), Is.EqualTo(new[] { 4, 4, 2 }));
        var seen = batches.SelectMany(b => b.Images.ToArray().Where((_, i) => i % 4 == 0)).Select(v => (int)v).ToArray();
        Assert.That(seen, Is.EqualTo(order), "each batch carries the items of the epoch's order");
        Assert.That(batches.SelectMany(b => b.HostLabels), Is.EqualTo(order.Select(i => i % 10)));
        Assert.That(batches.SelectMany(b => b.Labels.ToArray()), Is.EqualTo(order.Select(i => (float)(i % 10))));
        Assert.That(batches[0].Images.Shape, Is.EqualTo(new Shape(4, 1, 2, 2)));
        Assert.That(new DataLoader(data, 4, dropLast: true).Batches(Backend).Select(b => b.Count), Is.EqualTo(new[] { 4, 4 }));
        Assert.That(new DataLoader(data, 4).Order(0), Is.EqualTo(Enumerable.Range(0, 10)), "no shuffle keeps the file order");
    }
}
