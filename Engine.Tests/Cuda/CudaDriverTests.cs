using System.Reflection;
using System.Runtime.InteropServices;
using Engine.Cpu;
using Engine.Cuda;
using Engine.Cuda.Emulator;
using Engine.Cuda.Native;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

/// <summary>The native driver's failure without a GPU, the CPU path's independence from native code, and the emulated cuBLAS.</summary>
[TestFixture]
public class CudaDriverTests
{
    [Test]
    public void WithoutAGpuTheNativeBackendFailsWithAClearMessage()
    {
        CudaBackend backend;
        try
        {
            backend = CudaBackend.Create("cuda");
        }
        catch (CudaException e)
        {
            Assert.That(e.Message, Does.Contain("no CUDA driver found").Or.Contain("no CUDA device"));
            return;
        }
        backend.Dispose();
        Assert.Ignore("a CUDA device is present: the failure path cannot be observed here");
    }

    [Test]
    public void AnUnknownBackendNameIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => CudaBackend.Create("gpu"))!;
        Assert.That(e.Message, Does.Contain("expected backend 'cuda' or 'cuda-emulated', got 'gpu'"));
    }

    /// <summary>Engine.Core and Engine.Cpu declare no P/Invoke and do not reference Engine.Cuda, so the CPU path loads no native library.</summary>
    [TestCase(typeof(Tensor))]
    [TestCase(typeof(CpuBackend))]
    public void TheCpuPathHasNoNativeCode(Type typeInAssembly)
    {
        var assembly = typeInAssembly.Assembly;
        Assert.That(assembly.GetReferencedAssemblies().Select(a => a.Name), Has.None.EqualTo("Engine.Cuda"));
        var nativeMethods = assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => m.Attributes.HasFlag(MethodAttributes.PinvokeImpl) || m.GetCustomAttribute<DllImportAttribute>() is not null)
            .Select(m => $"{m.DeclaringType}.{m.Name}")
            .ToList();
        Assert.That(nativeMethods, Is.Empty, $"{assembly.GetName().Name} declares native methods");
    }

    [Test]
    public void EveryKernelFileIsEmbeddedAndParsesInTheEmulator()
    {
        string[] modules = ["activations", "batchnorm", "conv2d", "datamovement", "elementwise", "fractionalpool2d", "optimizers", "pad2d", "pool2d", "pow", "random", "resize2d", "softmax", "unpool2d"];
        foreach (string module in modules)
        {
            string ptx = CudaBackend.KernelSource(module);
            Assert.That(ptx, Does.StartWith($"// {module}.ptx:"), "each kernel file starts with its comment of entries");
            Assert.That(ptx, Does.Contain(".version 7.0").And.Contain(".target sm_60").And.Contain(".address_size 64"));
            var parsed = PtxParser.Parse(module, ptx);
            Assert.That(parsed.Kernels, Is.Not.Empty, module);
        }
        var embedded = typeof(CudaBackend).Assembly.GetManifestResourceNames().Where(n => n.EndsWith(".ptx")).Order();
        Assert.That(embedded, Is.EqualTo(modules.Select(m => m + ".ptx")));
    }

    /// <summary>
    /// The emulated cuBLAS against a column-major reference written from cuBLAS's documentation: padded leading
    /// dimensions, both transposes, strided batches; entries of C beyond m rows (the ld padding) stay untouched.
    /// </summary>
    [Test]
    public void EmulatedSgemmFollowsCublasArgumentSemantics()
    {
        var gen = from m in Gen.Choose(1, 9) from n in Gen.Choose(1, 9) from k in Gen.Choose(1, 9)
                  from ta in Gen.Elements(false, true) from tb in Gen.Elements(false, true) from pad in Gen.Choose(0, 3)
                  from batches in Gen.Choose(1, 3) from seed in Gen.Choose(0, 10000) select (m, n, k, ta, tb, pad, batches, seed);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (m, n, k, ta, tb, pad, batches, seed) = t;
            int lda = (ta ? k : m) + pad, ldb = (tb ? n : k) + pad, ldc = m + pad;
            int aCols = ta ? m : k, bCols = tb ? k : n;
            long strideA = (long)lda * aCols, strideB = (long)ldb * bCols, strideC = (long)ldc * n;
            var random = new System.Random(seed);
            float[] a = Values(random, (int)(strideA * batches)), b = Values(random, (int)(strideB * batches)), c = Values(random, (int)(strideC * batches));
            const float alpha = 1.5f, beta = -0.5f;
            using var driver = new EmulatedDriver();
            ulong da = Upload(driver, a), db = Upload(driver, b), dc = Upload(driver, c);
            driver.Sgemm(new SgemmArgs(ta, tb, m, n, k, alpha, da, lda, db, ldb, beta, dc, ldc, batches, strideA, strideB, strideC));
            var result = new float[c.Length];
            driver.CopyToHost(dc, MemoryMarshal.AsBytes(result.AsSpan()));
            for (int batch = 0; batch < batches; batch++)
                for (int j = 0; j < n; j++)
                    for (int i = 0; i < ldc; i++)
                    {
                        long at = batch * strideC + i + (long)j * ldc;
                        if (i >= m)
                        {
                            Assert.That(result[at], Is.EqualTo(c[at]), "padding rows of C are not written");
                            continue;
                        }
                        double sum = 0, magnitude = 0;
                        for (int p = 0; p < k; p++)
                        {
                            double x = ta ? a[batch * strideA + p + (long)i * lda] : a[batch * strideA + i + (long)p * lda];
                            double y = tb ? b[batch * strideB + j + (long)p * ldb] : b[batch * strideB + p + (long)j * ldb];
                            sum += x * y;
                            magnitude += Math.Abs(x * y);
                        }
                        double expected = alpha * sum + beta * c[at];
                        double bound = (k + 2) / (double)(1 << 24) * (Math.Abs(alpha) * magnitude + Math.Abs(beta * c[at]));
                        Assert.That(result[at], Is.EqualTo(expected).Within(bound * 1.01 + 1e-30), $"C[{i},{j}] of batch {batch}");
                    }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(50));
    }

    [Test]
    public void EmulatedSgemmRejectsABadLeadingDimensionByName()
    {
        using var driver = new EmulatedDriver();
        ulong p = driver.Allocate(64);
        var e = Assert.Throws<CudaException>(() => driver.Sgemm(new SgemmArgs(false, false, 4, 2, 2, 1f, p, 3, p, 2, 0f, p, 4)))!;
        Assert.That(e.ErrorName, Is.EqualTo("CUBLAS_STATUS_INVALID_VALUE"));
        Assert.That(e.Message, Does.Contain("lda=3 < 4"));
    }

    [Test]
    public void LaunchersRefuseBuffersSmallerThanTheGeometry()
    {
        using var backend = CudaBackend.Create("cuda-emulated");
        var g = new Pool2dGeometry(1, 2, 6, 6, 2, 2, 0, 1);
        var x = backend.Allocate(g.InputShape.Size - 1);
        var y = backend.Allocate(g.OutputShape.Size);
        var e = Assert.Throws<ArgumentException>(() => backend.AvgPool2d(g, x, y))!;
        Assert.That(e.Message, Does.Contain("avg pool input (1,2,6,6): expected a buffer of at least 72 floats, got 71"));
    }

    private static float[] Values(System.Random random, int count) => Enumerable.Range(0, count).Select(_ => random.NextSingle() * 2 - 1).ToArray();

    private static ulong Upload(EmulatedDriver driver, float[] values)
    {
        ulong p = driver.Allocate(values.Length * 4L);
        driver.CopyToDevice(MemoryMarshal.AsBytes(values.AsSpan()), p);
        return p;
    }
}
