using Engine.Cpu;
using Engine.Cuda;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

/// <summary>
/// For every primitive: the CUDA backend agrees with the CPU backend, bit for bit where both do the same exact
/// arithmetic in the same order, else within a bound derived from the instructions used (stated beside each test).
/// The fixture runs on the PTX emulator, and unchanged on the native driver, which is skipped (with the reason)
/// on a machine without a GPU.
/// </summary>
[TestFixture("cuda-emulated")]
[TestFixture("cuda")]
[NonParallelizable]
public partial class CudaAgreementTests(string kind)
{
    /// <summary>Unit roundoff of f32 round-to-nearest (half an ulp of 1).</summary>
    private const double U = 1.0 / (1 << 24);
    private const int Runs = 20;

    private CpuBackend _cpu = null!;
    private CudaBackend _cuda = null!;

    [OneTimeSetUp]
    public void CreateBackends()
    {
        _cpu = new CpuBackend(2);
        try
        {
            _cuda = CudaBackend.Create(kind);
        }
        catch (CudaException e) when (kind == "cuda")
        {
            Assert.Ignore($"the native CUDA backend is not available here: {e.Message}");
        }
    }

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _cpu?.Dispose();
        _cuda?.Dispose();
    }

    private static void ForAll<T>(Gen<T> gen, Action<T> body, int runs = Runs) =>
        Prop.ForAll(gen.ToArbitrary(), body).Check(Config.QuickThrowOnFailure.WithMaxTest(runs));

    private static float[] Random(int seed, int count, float low = -2f, float high = 2f)
    {
        var random = new System.Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = low + (high - low) * random.NextSingle();
        return values;
    }

    /// <summary>Small integers: many exact ties (pooling) and exact sums.</summary>
    private static float[] Integers(int seed, int count, int range = 3)
    {
        var random = new System.Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = random.Next(-range, range + 1);
        return values;
    }

    private DeviceBuffer Up(IBackend backend, float[] data)
    {
        var buffer = backend.Allocate(data.Length);
        backend.Upload(data, buffer);
        return buffer;
    }

    private static float[] Down(IBackend backend, DeviceBuffer buffer, int count)
    {
        var values = new float[count];
        backend.Download(buffer, values);
        return values;
    }

    /// <summary>Runs one primitive on both backends with the same inputs; returns (cpu, cuda) copies of the outputs.</summary>
    private (float[][] Cpu, float[][] Cuda) Both(float[][] inputs, int[] outputSizes, Action<IBackend, DeviceBuffer[], DeviceBuffer[]> run)
    {
        return (Once(_cpu), Once(_cuda));

        float[][] Once(IBackend backend)
        {
            var ins = inputs.Select(data => Up(backend, data)).ToArray();
            var outs = outputSizes.Select(n => backend.Allocate(n)).ToArray();
            foreach (var o in outs) backend.Fill(o, float.NaN, o.Length);
            run(backend, ins, outs);
            var result = outs.Select(o => Down(backend, o, o.Length)).ToArray();
            foreach (var b in ins.Concat(outs)) backend.Release(b);
            return result;
        }
    }

    private static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i])
                && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i])))
                Assert.Fail($"{what}: element {i} expected {expected[i]:R} (CPU), got {actual[i]:R} (CUDA)");
    }

    private static void AssertWithin(float[] expected, float[] actual, Func<int, double> tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)expected[i] - actual[i]);
            if (!(error <= tolerance(i)))
                Assert.Fail($"{what}: element {i} expected {expected[i]:R} (CPU), got {actual[i]:R} (CUDA), error {error:G3} > tolerance {tolerance(i):G3}");
        }
    }

    // ---- memory ----

    [Test]
    public void UploadDownloadCopyAndFillAreExact()
    {
        ForAll(Gen.Choose(1, 3000).Zip(Gen.Choose(0, 1000)), t =>
        {
            var (length, seed) = t;
            var data = Random(seed, length);
            int offset = length / 3, count = length - offset;
            var (cpu, cuda) = Both([data], [length, length], (b, i, o) =>
            {
                b.Copy(i[0], 0, o[0], 0, length);
                b.Fill(o[1], 0.25f, length);
                b.Copy(i[0], offset, o[1], 0, count);
            });
            AssertBitwise(cpu[0], cuda[0], "copy");
            AssertBitwise(cpu[1], cuda[1], "fill then offset copy");
        });
    }

    // ---- GEMM ----

    /// <summary>
    /// Each backend sums K products in some order: |c - exact| &lt;= (K+2) u (|alpha| sum |a||b| + |beta c|), so
    /// the two differ by at most twice that (Higham, dot products).
    /// </summary>
    [Test]
    public void GemmAgreesWithinTheDotProductBound()
    {
        var gen =
            from m in Gen.Choose(1, 20)
            from n in Gen.Choose(1, 20)
            from k in Gen.Choose(0, 24)
            from ta in Gen.Elements(false, true)
            from tb in Gen.Elements(false, true)
            from batches in Gen.Choose(1, 3)
            from shareA in Gen.Elements(false, true)
            from beta in Gen.Elements(0f, 1f, -0.5f)
            from seed in Gen.Choose(0, 100000)
            select (m, n, k, ta, tb, batches, shareA, beta, seed);
        ForAll(gen, t =>
        {
            var (m, n, k, ta, tb, batches, shareA, beta, seed) = t;
            var g = new GemmGeometry(ta, tb, m, n, k, batches, shareA ? 0 : (long)m * k, (long)k * n, (long)m * n);
            float[] a = Random(seed, shareA ? m * k : batches * m * k), b = Random(seed + 1, batches * k * n), c0 = Random(seed + 2, batches * m * n);
            const float alpha = 0.75f;
            var (cpu, cuda) = Both([a, b, c0], [], (_, _, _) => { });
            cpu = [Gemm(_cpu, g, alpha, a, b, beta, c0)];
            cuda = [Gemm(_cuda, g, alpha, a, b, beta, c0)];
            var absA = a.Select(MathF.Abs).ToArray();
            var absB = b.Select(MathF.Abs).ToArray();
            var absC = c0.Select(MathF.Abs).ToArray();
            var bound = Gemm(_cpu, g, alpha, absA, absB, MathF.Abs(beta), absC);
            AssertWithin(cpu[0], cuda[0], i => 2 * (k + 2) * U * bound[i] * 1.01, $"gemm {g}");
        });
    }

    private float[] Gemm(IBackend backend, GemmGeometry g, float alpha, float[] a, float[] b, float beta, float[] c0)
    {
        DeviceBuffer da = Up(backend, a), db = Up(backend, b), dc = Up(backend, c0);
        backend.Gemm(g, alpha, da, db, beta, dc);
        var result = Down(backend, dc, c0.Length);
        foreach (var x in new[] { da, db, dc }) backend.Release(x);
        return result;
    }
}
