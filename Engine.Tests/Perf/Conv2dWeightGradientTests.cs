using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The channels-last weight gradient (<c>ChannelsLastWeightGradient</c>: x transposed once, the column matrix packed
/// from it as per-pixel runs of channels, or read in place by <c>TapRunKernel</c>, D transposed into dW at the end),
/// forced onto every non-pointwise geometry: dW agrees with the double-precision reference and has the same bits at 1,
/// 2 and 3 threads, with panels read in place and all packed, on the 512-bit kernel with its AVX-512 copies and on the
/// forced 256-bit kernel with the scalar copies.
/// </summary>
[TestFixture]
public sealed class Conv2dWeightGradientTests : ThreadCountFixture
{

    /// <summary>
    /// Channels per group around the panel widths (12 and 6 rows, 32 and 16 columns, 16-channel transposes), odd
    /// sizes, strides 1-3, asymmetric padding up to past the kernel's extent, dilation, groups, and batches whose
    /// pixels cross the 512-pixel reduction blocks and the stages of images; at most 1.5 M multiply-adds.
    /// </summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry Geometry, int Seed)> Cases =
        from batch in Gen.Choose(1, 5)
        from groups in Gen.Elements(1, 1, 1, 2)
        from cg in Gen.Elements(1, 3, 8, 12, 13, 17, 24, 33)
        from kg in Gen.Elements(1, 5, 16, 31, 32, 33, 45)
        from kernel in Gen.Elements(1, 2, 3, 3, 5)
        from kernelW in Gen.Elements(kernel, kernel, 3)
        from stride in Gen.Elements(1, 1, 2, 3)
        from dilation in Gen.Elements(1, 1, 2)
        from padTop in Gen.Choose(0, dilation * (kernel - 1) + 1)
        from padLeft in Gen.Choose(0, dilation * (kernelW - 1) + 1)
        from padBottom in Gen.Choose(0, 2)
        from padRight in Gen.Choose(0, 2)
        from height in Gen.Choose(dilation * (kernel - 1) + 1, 23)
        from width in Gen.Choose(dilation * (kernelW - 1) + 1, 37)
        from seed in Properties.DataSeed
        select (Bounded(new Conv2dGeometry(batch, groups * cg, height, width, groups * kg, (kernel, kernelW), stride,
            new Padding2d(padTop, padLeft, padBottom, padRight), dilation, groups)), seed);

    /// <summary>The geometry with its output channels cut until it has at most 1.5 M multiply-adds.</summary>
    private static Conv2dGeometry Bounded(Conv2dGeometry g)
    {
        long perChannel = g.Macs / g.OutChannels * g.Groups;
        int kg = (int)Math.Clamp(1_500_000 / Math.Max(perChannel, 1), 1, g.OutChannelsPerGroup);
        return g with { OutChannels = g.Groups * kg };
    }

    private static void Check((Conv2dGeometry Geometry, int Seed) c, CpuBackend[] backends)
    {
        var g = c.Geometry;
        var x = Random(g.InputShape.Size, c.Seed);
        var dY = Random(g.OutputShape.Size, c.Seed + 1);
        var expected = ConvBackwardWeight(g, x, dY);
        var magnitude = ConvBackwardWeight(g, x.Select(Math.Abs).ToArray(), dY.Select(Math.Abs).ToArray());
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.ChannelsLastWeightMinChannels = 1;
        try
        {
            float[]? first = null;
            foreach (bool inPlace in new[] { true, false })
            {
                ChannelsLastWeightGradient.InPlaceRuns = inPlace;
                foreach (var backend in inPlace ? backends : backends[..1])
                {
                    var dW = backend.Allocate(g.WeightShape.Size);
                    backend.Fill(dW, float.NaN, g.WeightShape.Size); // overwritten, never accumulated
                    backend.Conv2dBackwardWeight(g, Upload(backend, x), Upload(backend, dY), dW, null);
                    var got = Download(backend, dW, g.WeightShape.Size);
                    first ??= got;
                    ExpectClose(got, expected, magnitude, $"weight gradient {g} ({backend.Name}, panels in place {inPlace})");
                    ExpectSameBits(first, got, $"weight gradient {g} on {backend.Name}, panels in place {inPlace}, against {backends[0].Name} in place");
                }
            }
        }
        finally
        {
            ChannelsLastWeightGradient.InPlaceRuns = true;
            CpuBackend.ChannelsLastWeightMinChannels = CpuBackend.DefaultChannelsLastWeightMinChannels;
            CpuBackend.DirectConvEnabled = true;
        }
    }

    [Test]
    public void ChannelsLastWeightGradient_AgreesWithReference_AndKeepsTheBits() => Properties.Check(Cases, c => Check(c, Backends), runs: 40);

    [Test]
    public void ChannelsLastWeightGradient_AgreesWithReference_AndKeepsTheBits_Vector256Forced()
    {
        GemmKernels.ForceVector256 = true;
        try
        {
            Properties.Check(Cases, c => Check(c, Backends), runs: 15);
            Check((LargeD, 7), Backends);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    /// <summary>
    /// A gradient whose D (900 x 320 floats) is large enough to go to dW channel block by channel block from per-thread
    /// copies at 1 and 2 threads (9 blocks of 12 channels, the last of 4) and from D in full at 3.
    /// </summary>
    private static readonly Conv2dGeometry LargeD = new(1, 100, 5, 4, 300, 3, 1, 1, 1);

    /// <summary>
    /// ResNet-18's layer-1 input at batch 5 (64 channels, 3x3, 56 x 56, 8 output channels: two stages of images and many
    /// reduction blocks) a 7 x 7 layer whose reduction blocks span images, and <see cref="LargeD"/>, against the reference.
    /// </summary>
    /// <summary>
    /// Large D at batch 3 with a stage of one image: D goes to dW chunk by chunk three times (stored, then added).
    /// <see cref="LargeD"/> (9 channel blocks): one block and all columns per chunk at 1 and 2 threads, two column slabs
    /// at 3; 200 channels to 160 (17 blocks, the last of 8 channels): two blocks per chunk at 1 thread.
    /// </summary>
    [Test]
    public void LargeD_OverSeveralStages_AgreesWithReference_AndKeepsTheBits()
    {
        ChannelsLastWeightGradient.StageFloats = 12_000;
        try
        {
            Check((LargeD with { Batch = 3 }, 8), Backends);
            ChannelsLastWeightGradient.StageFloats = 20_000;
            Check((new Conv2dGeometry(3, 200, 5, 4, 160, 3, 1, 1, 1), 9), Backends);
        }
        finally
        {
            ChannelsLastWeightGradient.StageFloats = ChannelsLastWeightGradient.DefaultStageFloats;
        }
    }

    [Test]
    public void ResNetShapes_AgreeWithReference_AndKeepTheBits()
    {
        Check((new Conv2dGeometry(5, 64, 56, 56, 8, 3, 1, 1, 1), 5), [Backends[0], Backends[1]]);
        Check((new Conv2dGeometry(11, 40, 7, 7, 36, 3, 1, 1, 1), 6), [Backends[0], Backends[1]]);
        Check((LargeD, 7), Backends);
    }
}
