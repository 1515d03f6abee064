using Engine.Cpu;
using Engine.Nn;
using Engine.Optim;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Cpu;

/// <summary>
/// The packed-weight cache of the convolution forward (<c>PackedWeights</c>): a repeated forward reads the weights
/// packed once, gives the same bits as a forward that packs them, and never serves weights that were changed in
/// between, whichever way they were written (upload, copy, fill, span, optimizer step, CopyFrom, state loading).
/// </summary>
[TestFixture]
public sealed class PackedWeightsTests
{
    private readonly CpuBackend _backend = new(2);
    private readonly CpuBackend _fresh = new(1);

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _backend.Dispose();
        _fresh.Dispose();
    }

    /// <summary>
    /// Geometries of the GEMM path (more than 16 output channels per group at stride 1): a 3x3 with 26 output channels
    /// (an M edge of the 12- and 6-row panels), a grouped strided 5x5 with Kg = 13, and a 1x1.
    /// </summary>
    private static readonly Conv2dGeometry[] Geometries =
    [
        new(2, 5, 9, 11, 26, 3, 1, 1, 1, 1),
        new(1, 6, 12, 10, 26, 5, (2, 1), 2, 1, 2),
        new(2, 8, 6, 6, 20, 1, 1, 0, 1, 1),
    ];

    /// <summary>The forward on a backend and buffers that have never seen these weights (so nothing is cached).</summary>
    private float[] Uncached(Conv2dGeometry g, float[] x, float[] w)
    {
        var y = _fresh.Allocate(g.OutputShape.Size);
        _fresh.Conv2d(g, Upload(_fresh, x), Upload(_fresh, w), null, y);
        return Download(_fresh, y, g.OutputShape.Size);
    }

    private float[] Forward(Conv2dGeometry g, DeviceBuffer x, DeviceBuffer w)
    {
        var y = _backend.Allocate(g.OutputShape.Size);
        _backend.Conv2d(g, x, w, null, y);
        return Download(_backend, y, g.OutputShape.Size);
    }

    [TestCaseSource(nameof(Geometries))]
    public void RepeatedForwardsReadThePackedCopyWithTheSameBits(Conv2dGeometry g)
    {
        var x = Random(g.InputShape.Size, 1);
        var w = Random(g.WeightShape.Size, 2);
        var xb = Upload(_backend, x);
        var wb = Upload(_backend, w);
        var expected = Bits(Uncached(g, x, w));
        for (int run = 0; run < 3; run++)
            Assert.That(Bits(Forward(g, xb, wb)), Is.EqualTo(expected), $"forward {run} of {g}");
        Assert.That(((CpuBuffer)wb).Packed?.IsPacked, Is.True, "the third forward of unchanged weights reads a packed copy");
    }

    [TestCaseSource(nameof(Geometries))]
    public void EveryWriteToTheWeightsIsSeenByTheNextForward(Conv2dGeometry g)
    {
        var x = Random(g.InputShape.Size, 3);
        var w = Random(g.WeightShape.Size, 4);
        var xb = Upload(_backend, x);
        var wb = Upload(_backend, w);
        var other = Random(g.WeightShape.Size, 5);
        var otherBuffer = Upload(_backend, other);
        var grad = Upload(_backend, Random(g.WeightShape.Size, 6));
        var writes = new (string Name, Action Write)[]
        {
            ("upload", () => _backend.Upload(Random(g.WeightShape.Size, 7), wb)),
            ("copy", () => _backend.Copy(otherBuffer, 0, wb, 0, g.WeightShape.Size)),
            ("fill", () => _backend.Fill(wb, 0.25f, g.WeightShape.Size / 2)),
            ("span", () => ((CpuBuffer)wb).Span[g.WeightShape.Size - 1] = 3f),
            ("sgd step", () => _backend.SgdStep(new SgdSettings(0.1f, 0f, 0f, 0f, false, true), wb, grad, null, g.WeightShape.Size)),
        };
        foreach (var (name, write) in writes)
        {
            for (int run = 0; run < 3; run++) Forward(g, xb, wb); // the third reads the packed copy
            Assert.That(((CpuBuffer)wb).Packed?.IsPacked, Is.True, $"before {name}: the weights are cached");
            write();
            var now = Download(_backend, wb, g.WeightShape.Size);
            Assert.That(Bits(Forward(g, xb, wb)), Is.EqualTo(Bits(Uncached(g, x, now))), $"forward after {name} of {g}");
        }
    }

    /// <summary>The same through the layer API: an optimizer step, Tensor.CopyFrom and LoadStateDict between forwards.</summary>
    [Test]
    public void ALayerSeesOptimizerStepsCopiesAndLoadedState()
    {
        var layer = new Conv2d(4, 26, 3, padding: 1, bias: false, generator: new Generator(5)).To(_backend);
        var conv = (Conv2d)layer;
        var x = Tensor.FromArray(_backend, Random(2 * 4 * 8 * 8, 8), new Shape(2, 4, 8, 8)).Keep();
        var optimizer = new Sgd(layer.Parameters(), 0.5f);
        float[] Output()
        {
            using var scope = Scope.Begin();
            using var noGrad = Autograd.NoGrad();
            return layer.Forward(x).ToArray();
        }
        float[] Expected()
        {
            // the current weights in a new buffer, which no forward has seen
            using var scope = Scope.Begin();
            using var noGrad = Autograd.NoGrad();
            var w = Tensor.FromArray(_backend, conv.Weight.Value.ToArray(), conv.Weight.Shape);
            return Ops.Conv2d(x, w, null, 1, 1, 1).ToArray();
        }
        void Check(string after)
        {
            for (int run = 0; run < 3; run++) Output();
            Assert.That(Bits(Output()), Is.EqualTo(Bits(Expected())), $"forward after {after}");
        }
        Check("construction");
        {
            using var scope = Scope.Begin();
            optimizer.ZeroGrad();
            Ops.Sum(Ops.Square(layer.Forward(x))).Backward();
            optimizer.Step();
        }
        Check("an optimizer step");
        conv.Weight.Value.CopyFrom(Random(conv.Weight.Shape.Size, 9));
        Check("CopyFrom");
        layer.LoadStateDict(new Dictionary<string, float[]> { ["weight"] = Random(conv.Weight.Shape.Size, 10) });
        Check("LoadStateDict");
    }
}
