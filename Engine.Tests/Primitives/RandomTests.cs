using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>Philox4x32-10: the published known answers, and the backend's uniform stream against the reference.</summary>
public abstract class RandomTests : BackendFixture
{
    /// <summary>
    /// Random123's known-answer vectors for philox4x32 with 10 rounds (its tests/kat_vectors, as reproduced by
    /// TensorFlow's and other projects' Philox tests): counter and key all zero, all ones, and the digits of pi.
    /// </summary>
    [TestCase(new uint[] { 0, 0, 0, 0 }, new uint[] { 0, 0 }, new uint[] { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 })]
    [TestCase(new uint[] { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, new uint[] { 0xffffffff, 0xffffffff },
        new uint[] { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd })]
    [TestCase(new uint[] { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, new uint[] { 0xa4093822, 0x299f31d0 },
        new uint[] { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 })]
    public void ReferenceMatchesRandom123KnownAnswers(uint[] counter, uint[] key, uint[] expected) =>
        Assert.That(PhiloxReference.Block(counter, key), Is.EqualTo(expected));

    [Test]
    public void EngineMatchesRandom123KnownAnswerForKeyZeroCounterZero()
    {
        var (a, b, c, d) = Philox.Block(0, 0);
        Assert.That(new[] { a, b, c, d }, Is.EqualTo(new uint[] { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 }));
    }

    [Test]
    public void EngineBlockMatchesReference() => Properties.Check(
        from seedLow in Gen.Choose(int.MinValue, int.MaxValue)
        from seedHigh in Gen.Choose(int.MinValue, int.MaxValue)
        from blockLow in Gen.Choose(int.MinValue, int.MaxValue)
        from blockHigh in Gen.Choose(int.MinValue, int.MaxValue)
        select ((ulong)(uint)seedHigh << 32 | (uint)seedLow, (ulong)(uint)blockHigh << 32 | (uint)blockLow),
        c =>
        {
            var (a, b, x, d) = Philox.Block(c.Item1, c.Item2);
            var expected = PhiloxReference.Block([(uint)c.Item2, (uint)(c.Item2 >> 32), 0, 0], [(uint)c.Item1, (uint)(c.Item1 >> 32)]);
            Expect.That(new[] { a, b, x, d }.SequenceEqual(expected), $"Philox block {c.Item2} under key {c.Item1}");
        }, runs: 100);

    /// <summary>Any offset and length (unaligned included, across the backend's parallel chunks) give the reference stream exactly.</summary>
    [Test]
    public void UniformMatchesReference() => Properties.Check(
        from seed in Gen.Choose(0, int.MaxValue)
        from offset in Gen.Choose(0, 1000)
        from count in Gen.OneOf(Gen.Choose(1, 40), Gen.Constant(70001))
        select ((ulong)seed, (ulong)offset, count),
        c =>
        {
            var y = Output(c.count);
            Backend.RandomUniform(c.Item1, c.Item2, y, c.count);
            var expected = Enumerable.Range(0, c.count).Select(i => PhiloxReference.Uniform(c.Item1, c.Item2 + (ulong)i)).ToArray();
            Numerics.AssertClose(Download(y, c.count), expected, 0, 0, $"uniform stream seed {c.Item1} offset {c.Item2}");
        }, runs: 20);

    /// <summary>A loose statistical sanity check: 100,000 draws lie in [0, 1) with mean 1/2 and variance 1/12.</summary>
    [Test]
    public void UniformHasTheMomentsOfU01()
    {
        const int n = 100_000;
        var y = Output(n);
        Backend.RandomUniform(7, 0, y, n);
        var values = Download(y, n);
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(0f));
        Assert.That(values.Max(), Is.LessThan(1f));
        double mean = values.Average(v => (double)v), variance = values.Average(v => (v - mean) * (v - mean));
        Assert.That(mean, Is.EqualTo(0.5).Within(0.005));
        Assert.That(variance, Is.EqualTo(1.0 / 12).Within(0.002));
    }
}
