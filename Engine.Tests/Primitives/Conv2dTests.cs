using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>
/// Convolution over random geometries (stride &gt; 1, dilation &gt; 1, asymmetric and 'same' padding, groups and
/// depthwise, every padding mode): backend vs the direct double reference forward and backward, the adjoint
/// identities, and autograd through Ops.Conv2d and the Conv2d layer vs central differences.
/// Tolerance: 1e-4 relative + 1e-5 absolute (at most 3*4*4 = 48 terms of magnitude &lt;= 1 per output).
/// </summary>
public abstract class Conv2dTests : BackendFixture
{
    private const double Rtol = 1e-4, Atol = 1e-5;

    private static (double[] X, double[] W, double[] B) Data(Conv2dCase c, Random random)
    {
        var g = c.Geometry;
        return (Numerics.Uniform(random, g.Batch * g.InChannels * g.InHeight * g.InWidth),
                Numerics.Uniform(random, g.OutChannels * c.Cg * g.Kernel.Height * g.Kernel.Width),
                Numerics.Uniform(random, g.OutChannels));
    }

    private static int OutputLength(Conv2dGeometry g)
    {
        var (p, q) = Conv2dReference.OutSizes(g);
        return g.Batch * g.OutChannels * p * q;
    }

    [Test]
    public void ForwardMatchesReference() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var (x, w, b) = Data(c, new Random(c.Seed));
        int length = OutputLength(g);
        Expect.That(g.OutputShape.Size == length, $"{c}: output shape {g.OutputShape}, expected {length} elements from the formula");
        var y = Output(length);
        Backend.Conv2d(g, Buffer(x), Buffer(w), c.Bias ? Buffer(b) : null, y);
        Numerics.AssertClose(Download(y, length), Conv2dReference.Forward(g, x, w, c.Bias ? b : null), Rtol, Atol, $"forward {c}");
    }, runs: 200);

    [Test]
    public void BackwardDataMatchesReference() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var (_, w, _) = Data(c, random);
        var dY = Numerics.Uniform(random, OutputLength(g));
        int length = g.InputShape.Size;
        var dX = Output(length);
        Backend.Conv2dBackwardData(g, Buffer(dY), Buffer(w), dX);
        Numerics.AssertClose(Download(dX, length), Conv2dReference.BackwardData(g, dY, w), Rtol, Atol, $"backward data {c}");
    }, runs: 200);

    /// <summary>dW sums over the batch (up to 9 images, more than the backend's 8 partial-sum chunks) and pixels.</summary>
    [Test]
    public void BackwardWeightMatchesReference() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var (x, w, _) = Data(c, random);
        var dY = Numerics.Uniform(random, OutputLength(g));
        var dW = Output(w.Length);
        var dBias = c.Bias ? Output(g.OutChannels) : null;
        Backend.Conv2dBackwardWeight(g, Buffer(x), Buffer(dY), dW, dBias);
        var (expectedW, expectedB) = Conv2dReference.BackwardWeight(g, x, dY);
        // the sums run over N*P*Q terms (up to ~1000), so the absolute tolerance grows with them
        Numerics.AssertClose(Download(dW, w.Length), expectedW, Rtol, 1e-4, $"backward weight {c}");
        if (dBias is not null) Numerics.AssertClose(Download(dBias, g.OutChannels), expectedB, Rtol, 1e-4, $"backward bias {c}");
    }, runs: 200);

    /// <summary>
    /// The backward passes are the adjoints of the forward map, on the backend alone:
    /// &lt;conv(x, w), dY&gt; = &lt;x, dataGrad(dY, w)&gt; = &lt;w, weightGrad(x, dY)&gt;.
    /// </summary>
    [Test]
    public void BackwardIsAdjointOfForward() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var (x, w, _) = Data(c, random);
        int length = OutputLength(g);
        var dY = Numerics.Uniform(random, length);
        var y = Output(length);
        var dX = Output(x.Length);
        var dW = Output(w.Length);
        Backend.Conv2d(g, Buffer(x), Buffer(w), null, y);
        Backend.Conv2dBackwardData(g, Buffer(dY), Buffer(w), dX);
        Backend.Conv2dBackwardWeight(g, Buffer(x), Buffer(dY), dW, null);
        double forward = Numerics.Dot(Numerics.ToDouble(Download(y, length)), dY);
        double data = Numerics.Dot(x, Numerics.ToDouble(Download(dX, x.Length)));
        double weight = Numerics.Dot(w, Numerics.ToDouble(Download(dW, w.Length)));
        double scale = 1e-4 * (1 + Math.Abs(forward));
        Expect.That(Math.Abs(forward - data) <= scale, $"{c}: <conv(x,w), dY> = {forward}, <x, dX> = {data}");
        Expect.That(Math.Abs(forward - weight) <= scale, $"{c}: <conv(x,w), dY> = {forward}, <w, dW> = {weight}");
    }, runs: 100);

    [Test]
    public void OpsGradientMatchesFiniteDifferences() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var (x, w, b) = Data(c, random);
        (double[], int[], bool)[] inputs =
        [
            (x, g.InputShape.ToArray(), true),
            (w, g.WeightShape.ToArray(), true),
            (b, [g.OutChannels], c.Bias),
        ];
        AssertAutogradMatchesFiniteDifferences($"Ops.Conv2d {c}", random, inputs,
            t => Engine.Ops.Conv2d(t[0], t[1], c.Bias ? t[2] : null, c.Stride, c.Padding, c.Dilation, c.Groups),
            v => Conv2dReference.Forward(g, v[0], v[1], c.Bias ? v[2] : null));
    }, runs: 60);

    /// <summary>
    /// The Conv2d layer with every padding mode and 'same' padding: forward equals pad-then-convolve in double,
    /// and its gradients (input, weight, bias) match central differences of that reference.
    /// </summary>
    [Test]
    public void LayerMatchesReferenceAndFiniteDifferences() => Properties.Check(Conv2dCase.Cases.Where(c => c.ModeAccepts), c =>
    {
        var random = new Random(c.Seed);
        var (x, w, b) = Data(c, random);
        var layer = new Engine.Nn.Conv2d(c.InChannels, c.OutChannels, c.Kernel, c.Stride,
            c.Same ? "same" : c.Explicit, c.Dilation, c.Groups, c.Bias, c.Mode, new Generator(1));
        layer.To(Backend);
        layer.Weight.Load(w.Select(v => (float)v).ToArray());
        layer.Bias?.Load(b.Select(v => (float)v).ToArray());
        var pad = c.PadGeometry;
        var conv = c.UnpaddedGeometry;
        double[] Reference(double[] xv, double[] wv, double[]? bv) => Conv2dReference.Forward(conv, Pad2dReference.Forward(pad, xv), wv, bv);
        using (Autograd.NoGrad())
        {
            var y = layer.Forward(Upload(x, c.Geometry.InputShape.ToArray()));
            Numerics.AssertClose(y.ToArray(), Reference(x, w, c.Bias ? b : null), Rtol, Atol, $"Conv2d layer forward {c}");
        }
        var projection = AssertAutogradMatchesFiniteDifferences($"Conv2d layer {c}", random, [(x, c.Geometry.InputShape.ToArray(), true)],
            t => layer.Forward(t[0]), v => Reference(v[0], w, c.Bias ? b : null));
        AssertParameterGradient($"Conv2d layer weight {c}", random, layer.Weight.Value, w, projection, wv => Reference(x, wv, c.Bias ? b : null));
        if (layer.Bias is not null)
            AssertParameterGradient($"Conv2d layer bias {c}", random, layer.Bias.Value, b, projection, bv => Reference(x, w, bv));
    }, runs: 80);
}
