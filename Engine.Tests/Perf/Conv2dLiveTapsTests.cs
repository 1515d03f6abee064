using Engine.Cpu;
using FsCheckProperty = FsCheck.NUnit.PropertyAttribute;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// Convolutions whose kernel has rows or columns that read only padding for every output pixel (ResNet-18's 3x3
/// layers on the 1x1 and 2x2 maps of 32-pixel inputs) run on the live part of the kernel only: the trimmed geometry
/// must drop exactly dead taps, and all three passes must agree with the reference on both vector paths and give the
/// same bits on one and two threads.
/// </summary>
[TestFixture]
public sealed class Conv2dLiveTapsTests
{
    private static readonly CpuBackend Two = new(2);

    /// <summary>Geometries with dead taps, and the live kernel (rows, columns) each must trim to.</summary>
    private static readonly object[] DeadTapCases =
    [
        new object[] { new Conv2dGeometry(3, 16, 1, 1, 24, 3, 1, 1, 1), 1, 1 }, // ResNet-18 layer 4 at 32 px: the centre tap
        new object[] { new Conv2dGeometry(2, 12, 2, 2, 20, 3, 2, 1, 1), 2, 2 }, // its strided first convolution: 2x2 of 3x3
        new object[] { new Conv2dGeometry(2, 6, 1, 5, 8, 3, 1, 1, 1), 1, 3 }, // one row of pixels: only the middle kernel row
        new object[] { new Conv2dGeometry(2, 6, 3, 4, 9, 3, 1, new Padding2d(4, 3, 0, 1), 2, 3), 2, 3 }, // grouped, dilated, asymmetric: top row dead
        new object[] { new Conv2dGeometry(1, 4, 2, 3, 5, (3, 4), (2, 1), new Padding2d(2, 0, 1, 3), 1, 1), 3, 3 }, // strided rows, last column dead
    ];

    [TestCaseSource(nameof(DeadTapCases))]
    public void LiveTaps_TrimsToTheLiveKernel(Conv2dGeometry g, int rows, int cols)
    {
        Assert.That(CpuBackend.LiveTaps(g, out var live, out _, out _), Is.True, $"expected dead taps in {g}");
        Assert.That((live.Kernel.Height, live.Kernel.Width), Is.EqualTo((rows, cols)), $"live kernel of {g}");
        Assert.That(live.OutputShape, Is.EqualTo(g.OutputShape), $"output shape of the trimmed {live}");
    }

    [TestCaseSource(nameof(DeadTapCases))]
    public void Conv2d_WithDeadTaps_AgreesWithReference(Conv2dGeometry g, int rows, int cols)
    {
        Conv2dPerfTests.CheckAll(Two, g, rows + 10 * cols, withBias: true);
        GemmKernels.ForceVector256 = true;
        try
        {
            Conv2dPerfTests.CheckAll(Two, g, rows + 10 * cols + 1, withBias: true);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    [TestCaseSource(nameof(DeadTapCases))]
    public void Conv2d_WithDeadTaps_IsBitwiseIdenticalForOneAndTwoThreads(Conv2dGeometry g, int rows, int cols)
    {
        var x = Random(g.InputShape.Size, rows);
        var w = Random(g.WeightShape.Size, cols);
        var dY = Random(g.OutputShape.Size, rows + cols);
        float[][] Run(CpuBackend be)
        {
            var y = be.Allocate(g.OutputShape.Size);
            var dX = be.Allocate(g.InputShape.Size);
            var dW = be.Allocate(g.WeightShape.Size);
            var dBias = be.Allocate(g.OutChannels);
            be.Conv2d(g, Upload(be, x), Upload(be, w), null, y);
            be.Conv2dBackwardData(g, Upload(be, dY), Upload(be, w), dX);
            be.Conv2dBackwardWeight(g, Upload(be, x), Upload(be, dY), dW, dBias);
            return [Download(be, y, g.OutputShape.Size), Download(be, dX, g.InputShape.Size), Download(be, dW, g.WeightShape.Size)];
        }
        using var one = new CpuBackend(1);
        using var two = new CpuBackend(2);
        var single = Run(one);
        var dual = Run(two);
        string[] names = ["y", "dX", "dW"];
        for (int t = 0; t < single.Length; t++)
            Assert.That(dual[t].Select(BitConverter.SingleToInt32Bits), Is.EqualTo(single[t].Select(BitConverter.SingleToInt32Bits)),
                $"{names[t]} of {g}: expected the same bits on one and two threads");
    }

    /// <summary>
    /// The live taps are gathered once per version of the weights: a forward and a data gradient at one version share
    /// the kept copy (no second gather), and a write to the weights, or a geometry with other live taps, gathers again.
    /// Each result is checked bit for bit against the same call on a fresh copy of the weights (nothing kept).
    /// </summary>
    [Test]
    public void LiveWeights_AreGatheredAgainOnlyWhenTheWeightsOrTheTapsChange()
    {
        var centre = new Conv2dGeometry(3, 16, 1, 1, 24, 3, 1, 1, 1); // the centre tap of 3 x 3
        var middleRow = new Conv2dGeometry(2, 16, 1, 5, 24, 3, 1, 1, 1); // the middle kernel row, 1 x 3
        var topRow = new Conv2dGeometry(2, 16, 1, 5, 24, 3, 1, new Padding2d(0, 1, 2, 1), 1); // the top kernel row, also 1 x 3
        var values = Random(centre.WeightShape.Size, 1);
        var w = Upload(Two, values);
        var weights = (CpuBuffer)w;
        float[] Forward(Conv2dGeometry g, DeviceBuffer weightBuffer, int seed)
        {
            var y = Two.Allocate(g.OutputShape.Size);
            Two.Conv2d(g, Upload(Two, Random(g.InputShape.Size, seed)), weightBuffer, null, y);
            return Download(Two, y, g.OutputShape.Size);
        }
        // (reading w back would count as a write, see CpuBuffer.Version: the host keeps its values instead)
        float[] Fresh(Conv2dGeometry g, int seed) => Forward(g, Upload(Two, values), seed);
        int[] Bits(float[] v) => v.Select(BitConverter.SingleToInt32Bits).ToArray();

        Assert.That(Bits(Forward(centre, w, 2)), Is.EqualTo(Bits(Fresh(centre, 2))), "first forward");
        var kept = weights.Live;
        Assert.That(kept, Is.Not.Null, "expected the live taps kept on the weights");
        long gathers = Two.LiveTapGathers;
        var dX = Two.Allocate(centre.InputShape.Size);
        Two.Conv2dBackwardData(centre, Upload(Two, Random(centre.OutputShape.Size, 3)), w, dX);
        Assert.That(weights.Live, Is.SameAs(kept), "the data gradient should read the kept copy");
        Assert.That(Two.LiveTapGathers, Is.EqualTo(gathers), "the data gradient gathered again at an unchanged version");

        values = Random(centre.WeightShape.Size, 4);
        Two.Upload(values, w); // a step's update
        gathers = Two.LiveTapGathers;
        var changed = Forward(centre, w, 5);
        Assert.That(Two.LiveTapGathers, Is.EqualTo(gathers + 1), "expected one new gather after the weights changed");
        Assert.That(Bits(changed), Is.EqualTo(Bits(Fresh(centre, 5))), "forward after the weights changed");
        Assert.That(weights.Live, Is.SameAs(kept), "expected the kept copy gathered again in place");

        Assert.That(Bits(Forward(middleRow, w, 6)), Is.EqualTo(Bits(Fresh(middleRow, 6))), "forward with other live taps");
        Assert.That(Bits(Forward(topRow, w, 8)), Is.EqualTo(Bits(Fresh(topRow, 8))), "forward with live taps of the same shape elsewhere in the kernel");
        Assert.That(Bits(Forward(centre, w, 7)), Is.EqualTo(Bits(Fresh(centre, 7))), "forward back on the centre tap");
    }

    /// <summary>
    /// Over random geometries: when taps are trimmed, every dropped tap reads padding for every output pixel, the
    /// first and last kept rows and columns each read the input somewhere, and the output shape is unchanged.
    /// </summary>
    [FsCheckProperty(MaxTest = 300)]
    public void LiveTaps_DropsOnlyDeadTaps(int seed)
    {
        var random = new System.Random(seed);
        Conv2dGeometry g;
        while (true)
        {
            g = new Conv2dGeometry(1, 1, random.Next(1, 6), random.Next(1, 6), 1, (random.Next(1, 6), random.Next(1, 6)),
                (random.Next(1, 4), random.Next(1, 4)), new Padding2d(random.Next(0, 5), random.Next(0, 5), random.Next(0, 5), random.Next(0, 5)),
                (random.Next(1, 3), random.Next(1, 3)));
            try
            {
                g.Validate("test");
                break;
            }
            catch (ArgumentException)
            {
            }
        }
        if (!CpuBackend.LiveTaps(g, out var live, out int r0, out int s0)) return;
        Assert.That(live.OutputShape, Is.EqualTo(g.OutputShape), $"output shape of {live} trimmed from {g}");
        bool Reads(int r, int s)
        {
            for (int p = 0; p < g.OutHeight; p++)
                for (int q = 0; q < g.OutWidth; q++)
                {
                    int h = p * g.Stride.Height - g.Padding.Top + r * g.Dilation.Height;
                    int w = q * g.Stride.Width - g.Padding.Left + s * g.Dilation.Width;
                    if ((uint)h < (uint)g.InHeight && (uint)w < (uint)g.InWidth) return true;
                }
            return false;
        }
        for (int r = 0; r < g.Kernel.Height; r++)
            for (int s = 0; s < g.Kernel.Width; s++)
            {
                bool kept = r >= r0 && r < r0 + live.Kernel.Height && s >= s0 && s < s0 + live.Kernel.Width;
                if (!kept) Assert.That(Reads(r, s), Is.False, $"tap ({r}, {s}) of {g} was dropped but reads the input");
            }
        Assert.That(Enumerable.Range(s0, live.Kernel.Width).Any(s => Reads(r0, s)), Is.True, $"first kept row {r0} of {g} reads nothing");
        Assert.That(Enumerable.Range(r0, live.Kernel.Height).Any(r => Reads(r, s0)), Is.True, $"first kept column {s0} of {g} reads nothing");
        int rLast = r0 + live.Kernel.Height - 1, sLast = s0 + live.Kernel.Width - 1;
        Assert.That(Enumerable.Range(s0, live.Kernel.Width).Any(s => Reads(rLast, s)), Is.True, $"last kept row {rLast} of {g} reads nothing");
        Assert.That(Enumerable.Range(r0, live.Kernel.Height).Any(r => Reads(r, sLast)), Is.True, $"last kept column {sLast} of {g} reads nothing");
    }
}
