using System.Diagnostics;
using System.Globalization;
using Engine.Cuda;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Cli;

/// <summary>
/// <c>bench [--backend NAME] [--case NAME] [--threads N] [--json] [--seconds S]</c>: the fixed performance cases of
/// issue 4 (the shapes in docs/performance.md), each timed as the median of repeated runs after a warm-up. One line
/// per case; with --json one object per line: case, ms, gflops (where FLOPs are defined), images_per_second (models),
/// cpu_ms (the median processor time of the whole process per run, which a loaded machine inflates far less than ms at 1 thread).
/// FLOPs: 2*n^3 for GEMM, 2*N*K*P*Q*C/G*R*S per conv forward and 3x that for forward+backward (data and weight).
/// Model cases (LeNet-5, ResNet-18, the zoo's vgg_small) report images per second. On a CUDA backend each run ends with a device
/// synchronisation, so the time is the kernels' and not their queueing. cuda-emulated runs the kernels on the PTX
/// emulator, some thousand times slower than a GPU: only the small cases (<see cref="Case.Emulable"/>) run there.
/// </summary>
public static class BenchCommand
{
    /// <summary>One timed case; <paramref name="Emulable"/>: small enough for the PTX emulator (a few seconds a run).</summary>
    private sealed record Case(string Name, double Flops, int Images, Func<IBackend, Action> Setup, bool Emulable = false);

    private sealed record Result(string Name, double Ms, double Gflops, double ImagesPerSecond, string? Note, double CpuMs = double.NaN);

    private static readonly (string Name, Conv2dGeometry Geometry)[] ConvCases =
    [
        ("conv_lenet_c1", Conv(64, 1, 28, 6, 5, 1, 2)),
        ("conv_lenet_c2", Conv(64, 6, 14, 16, 5, 1, 0)),
        ("conv_r18_stem", Conv(8, 3, 224, 64, 7, 2, 3)),
        ("conv_r18_l1", Conv(8, 64, 56, 64, 3, 1, 1)),
        ("conv_r18_l2", Conv(8, 128, 28, 128, 3, 1, 1)),
        ("conv_r18_l3", Conv(8, 256, 14, 256, 3, 1, 1)),
        ("conv_r18_l4", Conv(8, 512, 7, 512, 3, 1, 1)),
        ("conv_r50_1x1", Conv(8, 256, 56, 64, 1, 1, 0)),
    ];


    private const string Usage = "expected [--backend cpu|cuda|cuda-emulated] [--case NAME] [--threads N] [--json] [--seconds S]";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? only = null;
        string backendName = BackendOptions.Cpu;
        int threads = 0;
        bool json = false;
        double seconds = 1.0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--case" when i + 1 < args.Length: only = args[++i]; break;
                case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out threads) && threads >= 0: i++; break;
                case "--seconds" when i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out seconds): i++; break;
                case "--backend" when i + 1 < args.Length: backendName = args[++i]; break;
                case "--json": json = true; break;
                case "--help" or "-h":
                    WriteHelp(output);
                    return 0;
                default:
                    error.WriteLine($"bench: unexpected argument '{args[i]}'; {Usage}");
                    return 2;
            }
        }
        var cases = AllCases();
        var names = cases.Select(c => c.Name).ToList();
        if (only is not null && !names.Contains(only))
        {
            error.WriteLine($"bench: unknown case '{only}'; expected one of {string.Join(", ", names)}");
            return 2;
        }
        bool emulated = backendName == BackendOptions.CudaEmulated;
        if (emulated && only is not null && !cases.First(c => c.Name == only).Emulable)
        {
            error.WriteLine($"bench: case '{only}' is too large for {BackendOptions.CudaEmulated} (the PTX emulator); expected one of {string.Join(", ", cases.Where(c => c.Emulable).Select(c => c.Name))}");
            return 2;
        }
        var backend = BackendOptions.Create(backendName, threads);
        using var owned = backend as IDisposable;
        Action synchronize = backend is CudaBackend cuda ? cuda.Driver.Synchronize : () => { };
        foreach (var c in cases.Where(c => only is null || c.Name == only))
        {
            if (emulated && !c.Emulable)
                Print(new Result(c.Name, double.NaN, double.NaN, double.NaN, $"skipped: too large for {BackendOptions.CudaEmulated}"), json, output);
            else
                Print(Measure(c, backend, synchronize, seconds), json, output);
        }
        return 0;
    }

    private static void WriteHelp(TextWriter output)
    {
        output.WriteLine("usage: engine bench [options]");
        output.WriteLine();
        output.WriteLine("Times fixed GEMM, convolution and whole-model cases: the median of repeated runs after a warm-up, one line per case.");
        output.WriteLine();
        output.WriteLine("options:");
        output.WriteLine($"  --backend NAME  {BackendOptions.Backend.Help} (default: cpu)");
        output.WriteLine("                  cuda-emulated is thousands of times slower than a GPU: it runs only the small cases");
        output.WriteLine($"                  ({string.Join(", ", AllCases().Where(c => c.Emulable).Select(c => c.Name))}); the others print 'skipped'");
        output.WriteLine("  --case NAME     one case (default: all)");
        output.WriteLine("  --threads N     CPU backend threads, 0 = all cores (default: 0)");
        output.WriteLine("  --seconds S     time per case, at least 5 runs (default: 1)");
        output.WriteLine("  --json          one JSON object per line: case, ms, gflops, images_per_second, note");
        output.WriteLine("  --help          show this help");
        output.WriteLine();
        output.WriteLine($"cases: {string.Join(", ", AllCases().Select(c => c.Name))}");
    }

    private static List<Case> AllCases()
    {
        var cases = new List<Case>();
        foreach (int n in new[] { 256, 1024, 2048 }) cases.Add(new Case($"gemm_{n}", 2.0 * n * n * n, 0, be => GemmCase(be, n), Emulable: n <= 256));
        foreach (var (name, g) in ConvCases)
        {
            bool small = name.StartsWith("conv_lenet", StringComparison.Ordinal);
            cases.Add(new Case($"{name}_fwd", 2.0 * g.Macs, 0, be => ConvCase(be, g, backward: false), small));
            cases.Add(new Case($"{name}_fwdbwd", 6.0 * g.Macs, 0, be => ConvCase(be, g, backward: true), small));
        }
        cases.Add(new Case("lenet5_train_b64", 0, 64, be => LeNetCase(be, train: true), Emulable: true));
        cases.Add(new Case("lenet5_infer_b64", 0, 64, be => LeNetCase(be, train: false), Emulable: true));
        cases.Add(new Case("resnet18_infer_b1_224", 0, 1, be => ResNetCase(be, 1, 224, train: false)));
        cases.Add(new Case("resnet18_infer_b8_224", 0, 8, be => ResNetCase(be, 8, 224, train: false)));
        cases.Add(new Case("resnet18_train_b32_32px", 0, 32, be => ResNetCase(be, 32, 32, train: true)));
        cases.Add(new Case("vgg_small_train_b128_28px", 0, 128, be => SmallVggCase(be, 128)));
        return cases;
    }

    private static Conv2dGeometry Conv(int n, int c, int hw, int k, int kernel, int stride, int pad) =>
        new(n, c, hw, hw, k, kernel, stride, pad, 1);

    private static float[] Random(int count, ulong seed)
    {
        var g = new Generator(seed);
        return g.Uniform(count, -1f, 1f);
    }

    private static Action GemmCase(IBackend be, int n)
    {
        var a = be.Allocate(n * n);
        var b = be.Allocate(n * n);
        var c = be.Allocate(n * n);
        be.Upload(Random(n * n, 1), a);
        be.Upload(Random(n * n, 2), b);
        var geometry = new GemmGeometry(false, false, n, n, n);
        return () => be.Gemm(geometry, 1f, a, b, 0f, c);
    }

    private static Action ConvCase(IBackend be, Conv2dGeometry g, bool backward)
    {
        var x = be.Allocate(g.InputShape.Size);
        var w = be.Allocate(g.WeightShape.Size);
        var bias = be.Allocate(g.OutChannels);
        var y = be.Allocate(g.OutputShape.Size);
        var dX = be.Allocate(g.InputShape.Size);
        var dW = be.Allocate(g.WeightShape.Size);
        var dBias = be.Allocate(g.OutChannels);
        be.Upload(Random(g.InputShape.Size, 3), x);
        be.Upload(Random(g.WeightShape.Size, 4), w);
        be.Upload(Random(g.OutChannels, 5), bias);
        return () =>
        {
            be.Conv2d(g, x, w, bias, y);
            if (!backward) return;
            // the output itself stands in for dOutput: same shape, same cost
            be.Conv2dBackwardData(g, y, w, dX);
            be.Conv2dBackwardWeight(g, x, y, dW, dBias);
        };
    }

    private static Action LeNetCase(IBackend be, bool train)
    {
        const int batch = 64;
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = i % 10;
        return ModelStep(be, new LeNet5(generator: new Generator(7)), Random(batch * 28 * 28, 8), new Shape(batch, 1, 28, 28),
            labels, train, weightDecay: 0f);
    }

    /// <summary>ResNet-18 (1000 classes): an inference pass in eval mode, or a training step with SGD and momentum.</summary>
    private static Action ResNetCase(IBackend be, int batch, int size, bool train)
    {
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = i * 37 % 1000;
        return ModelStep(be, new ResNet(18), Random(batch * 3 * size * size, 9), new Shape(batch, 3, size, size),
            labels, train, weightDecay: 0f);
    }

    /// <summary>
    /// The zoo's vgg_small as <c>train --model vgg_small --weight-decay 5e-4</c> runs it on Fashion-MNIST: a training
    /// step on 1 x 28 x 28 images with SGD, momentum 0.9 and weight decay 5e-4.
    /// </summary>
    private static Action SmallVggCase(IBackend be, int batch)
    {
        var labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = i % 10;
        return ModelStep(be, new SmallVgg(), Random(batch * 28 * 28, 10), new Shape(batch, 1, 28, 28),
            labels, train: true, weightDecay: 5e-4f);
    }

    /// <summary>
    /// One run of a model case: an inference pass in eval mode (reading the logits back), or a training step
    /// (zero grad, cross-entropy forward and backward, SGD step with momentum 0.9, reading the loss back).
    /// </summary>
    private static Action ModelStep(IBackend be, Module model, float[] images, Shape inputShape, int[] labels, bool train, float weightDecay)
    {
        model.To(be);
        var optimizer = new Sgd(model.Parameters(), 0.01f, momentum: 0.9f, weightDecay: weightDecay);
        if (!train) model.Eval();
        return () =>
        {
            using var scope = Scope.BeginRecycling();
            var x = Tensor.FromArray(be, images, inputShape);
            if (!train)
            {
                using (Autograd.NoGrad()) model.Forward(x).ToArray();
                return;
            }
            optimizer.ZeroGrad();
            var loss = Ops.CrossEntropy(model.Forward(x), labels);
            loss.Backward();
            optimizer.Step();
            loss.Item();
        };
    }

    /// <summary>Median of runs after a warm-up; runs for about <paramref name="seconds"/> (at least 5 runs).</summary>
    private static Result Measure(Case c, IBackend backend, Action synchronize, double seconds)
    {
        var setup = c.Setup(backend);
        void run()
        {
            setup();
            synchronize();
        }
        var clock = Stopwatch.StartNew();
        run();
        while (clock.Elapsed.TotalSeconds < Math.Min(0.2, seconds / 4)) run();
        var times = new List<double>();
        var cpuTimes = new List<double>();
        clock.Restart();
        while (times.Count < 5 || (clock.Elapsed.TotalSeconds < seconds && times.Count < 2000))
        {
            long start = Stopwatch.GetTimestamp();
            var cpuStart = Environment.CpuUsage.TotalTime;
            run();
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            cpuTimes.Add((Environment.CpuUsage.TotalTime - cpuStart).TotalMilliseconds);
        }
        times.Sort();
        cpuTimes.Sort();
        double ms = times[times.Count / 2];
        return new Result(c.Name, ms, c.Flops > 0 ? c.Flops / ms / 1e6 : double.NaN,
            c.Images > 0 ? c.Images / ms * 1000 : double.NaN, null, cpuTimes[cpuTimes.Count / 2]);
    }

    private static void Print(Result r, bool json, TextWriter output)
    {
        static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        if (json)
        {
            var fields = new List<string> { $"\"case\":\"{r.Name}\"" };
            if (!double.IsNaN(r.Ms)) fields.Add($"\"ms\":{F(r.Ms)}");
            if (!double.IsNaN(r.Gflops)) fields.Add($"\"gflops\":{F(r.Gflops)}");
            if (!double.IsNaN(r.ImagesPerSecond)) fields.Add($"\"images_per_second\":{F(r.ImagesPerSecond)}");
            if (!double.IsNaN(r.CpuMs)) fields.Add($"\"cpu_ms\":{F(r.CpuMs)}");
            if (r.Note is not null) fields.Add($"\"note\":\"{r.Note}\"");
            output.WriteLine("{" + string.Join(",", fields) + "}");
            return;
        }
        output.WriteLine(r.Note is not null
            ? $"{r.Name,-26} {r.Note}"
            : $"{r.Name,-26} {F(r.Ms),10} ms" + (double.IsNaN(r.Gflops) ? "" : $" {F(r.Gflops),9} GFLOP/s")
              + (double.IsNaN(r.ImagesPerSecond) ? "" : $" {F(r.ImagesPerSecond),9} images/s"));
    }
}
