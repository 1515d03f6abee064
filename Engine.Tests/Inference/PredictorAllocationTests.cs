using Engine.Cpu;
using Engine.Inference;
using Engine.Models;
using Engine.Nn;
using Engine.Tests.Onnx;
using NUnit.Framework;

namespace Engine.Tests.Inference;

/// <summary>
/// Steady-state predictor calls allocate nothing on the GC heap but the returned array, for models that cover
/// convolution, batch norm in eval, dropout, adaptive pooling, residual additions and concatenation, with one and two
/// CPU threads. Counted exactly on the calling thread and on the backend's worker threads (each thread's own
/// counter), and over the whole process (GC.GetTotalAllocatedBytes(precise: true)). The process figure also holds
/// the test host's own threads, which allocate steadily (about 1.7 KB/s when idle), so it is taken net of an idle
/// window as long as the calls, and must stay under one object per call. Models loaded from ONNX are covered too.
/// </summary>
[TestFixture]
public sealed class PredictorAllocationTests
{
    private const int WarmUpCalls = 20, MeasuredCalls = 20, Rounds = 3;

    /// <summary>The smallest heap object on 64-bit .NET (header, method table, one field): less than this per call
    /// means not even one object per call.</summary>
    private const long SmallestObject = 24;

    public readonly record struct Bytes(long ThisThread, long Workers, long Process)
    {
        public override string ToString() => $"{ThisThread} bytes on the calling thread, {Workers} on the workers, {Process} process-wide (net of idle)";
    }

    /// <summary>
    /// Bytes per call after warm-up calls: for the calling thread and for the workers, exact over the round that
    /// allocated least. Which chunks a thread runs depends on timing (under load the caller runs chunks a worker
    /// usually takes), so a thread can meet a kernel for the first time, and make its one-time per-thread scratch,
    /// after the warm-up; a per-call allocation shows in every round. Process-wide: the least total of a round of
    /// calls less the least total of an idle window as long as the round.
    /// </summary>
    public static Bytes PerCall(CpuBackend backend, Action call)
    {
        for (int i = 0; i < WarmUpCalls; i++) call();
        long leastBusy = long.MaxValue, leastIdle = long.MaxValue, leastThreadBytes = long.MaxValue, leastWorkerBytes = long.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            long total = GC.GetTotalAllocatedBytes(precise: true);
            long thread = GC.GetAllocatedBytesForCurrentThread(), workers = backend.WorkerAllocatedBytes;
            for (int i = 0; i < MeasuredCalls; i++) call();
            leastThreadBytes = Math.Min(leastThreadBytes, GC.GetAllocatedBytesForCurrentThread() - thread);
            leastWorkerBytes = Math.Min(leastWorkerBytes, backend.WorkerAllocatedBytes - workers);
            long busy = GC.GetTotalAllocatedBytes(precise: true) - total;
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            long idleStart = GC.GetTotalAllocatedBytes(precise: true);
            Thread.Sleep(elapsed);
            leastIdle = Math.Min(leastIdle, GC.GetTotalAllocatedBytes(precise: true) - idleStart);
            leastBusy = Math.Min(leastBusy, busy);
        }
        return new(leastThreadBytes / MeasuredCalls, leastWorkerBytes / MeasuredCalls, (leastBusy - leastIdle) / MeasuredCalls);
    }

    [TestCase("lenet5", 1, 28, 1)]
    [TestCase("lenet5", 1, 28, 2)]
    [TestCase("lenet5", 32, 28, 2)]
    [TestCase("vgg_small", 2, 28, 1)]
    [TestCase("vgg_small", 2, 28, 2)]
    [TestCase("resnet20", 2, 32, 1)]
    [TestCase("resnet20", 2, 32, 2)]
    [TestCase("unet_small", 1, 64, 1)]
    [TestCase("unet_small", 1, 64, 2)]
    [TestCase("googlenet", 1, 64, 2)]
    public void ASteadyStateCallAllocatesNothingButTheOutput(string name, int batch, int size, int threads)
    {
        using var backend = new CpuBackend(threads);
        var entry = ModelZoo.Find(name);
        var predictor = new Predictor(ModelZoo.Create(name, generator: new Generator(1)), backend, new Shape(batch, entry.DefaultChannels, size, size));
        Assert.That(backend.Threads, Is.EqualTo(threads));
        AssertOnlyTheOutputIsAllocated(backend, predictor, $"{name} batch {batch}, {threads} threads");
    }

    /// <summary>
    /// The same for models loaded from ONNX files (a LeNet-style and a ResNet-style graph, see
    /// <see cref="OnnxTestGraphs"/>): the compiled plan reuses its per-call frame and remembers the shape arithmetic.
    /// </summary>
    [TestCase("lenet", 1, 1)]
    [TestCase("lenet", 1, 2)]
    [TestCase("lenet", 16, 2)]
    [TestCase("resnet", 2, 1)]
    [TestCase("resnet", 2, 2)]
    public void ASteadyStateCallOnAnOnnxModelAllocatesNothingButTheOutput(string graph, int batch, int threads)
    {
        using var backend = new CpuBackend(threads);
        var shape = graph == "lenet" ? new Shape(batch, 1, 28, 28) : new Shape(batch, 3, 16, 16);
        var predictor = new Predictor(OnnxPlanTests.Load(graph), backend, shape);
        AssertOnlyTheOutputIsAllocated(backend, predictor, $"ONNX {graph} batch {batch}, {threads} threads");
    }

    /// <summary>And for graphs as PyTorch exports them (scripts/onnx-torch-fixtures.sh; skipped when absent).</summary>
    [TestCase("lenet_view", 1, 2)]
    [TestCase("resnet18", 1, 1)]
    [TestCase("resnet18", 1, 2)]
    [TestCase("squeezenet1_1", 1, 2)]
    public void ASteadyStateCallOnATorchExportAllocatesNothingButTheOutput(string name, int batch, int threads)
    {
        var path = OnnxPlanTests.TorchExport(name);
        using var backend = new CpuBackend(threads);
        var predictor = new Predictor(Engine.Onnx.OnnxModel.Load(path), backend, OnnxPlanTests.TorchInputShape(name, batch));
        AssertOnlyTheOutputIsAllocated(backend, predictor, $"torch export {name} batch {batch}, {threads} threads");
    }

    private static void AssertOnlyTheOutputIsAllocated(CpuBackend backend, Predictor predictor, string label)
    {
        var input = new Generator(5).Uniform(predictor.InputShape.Size, 0f, 1f);
        var output = new float[predictor.OutputShape.Size];
        var intoSpan = PerCall(backend, () => predictor.Predict(input, output));
        var withArray = PerCall(backend, () => predictor.Predict(input));
        long arrayBytes = ArrayBytes(predictor.OutputShape.Size);
        TestContext.Out.WriteLine($"{label}, per call: into a span {intoSpan}; returning the array ({arrayBytes} bytes) {withArray}");
        Assert.That(intoSpan.ThisThread, Is.Zero, "bytes per call into a span, calling thread");
        Assert.That(intoSpan.Workers, Is.Zero, "bytes per call into a span, worker threads");
        Assert.That(intoSpan.Process, Is.LessThan(SmallestObject), "bytes per call into a span, process-wide");
        Assert.That(withArray.ThisThread, Is.EqualTo(arrayBytes), "bytes per call returning the array, calling thread");
        Assert.That(withArray.Workers, Is.Zero, "bytes per call returning the array, worker threads");
        Assert.That(withArray.Process, Is.LessThan(arrayBytes + SmallestObject), "bytes per call returning the array, process-wide");
    }

    /// <summary>Heap size of a float[] of <paramref name="length"/>, measured (object header and length included).</summary>
    private static long ArrayBytes(int length)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(new float[length]);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// A tensor made inside a predictor call (a recycling scope) and used after the call fails with an error that says
    /// so, instead of reading whatever later call reuses its handle; kept tensors are never recycled.
    /// </summary>
    [Test]
    public void ATensorKeptPastItsRecyclingScopeFailsLoudly()
    {
        using var backend = new CpuBackend(1);
        Tensor? escaped = null;
        var kept = new List<Tensor>();
        var model = new Sequential(new Spy(t => escaped = t), new Spy(t => kept.Add(Ops.Scale(t, 2f).Keep())));
        var predictor = new Predictor(model, backend, new Shape(1, 3));
        predictor.Predict([1f, 2f, 3f], new float[3]);
        var keptInCall = kept[^1];
        var e = Assert.Throws<ObjectDisposedException>(() => escaped!.ToArray())!;
        Assert.That(e.Message, Does.Contain("used after the recycling scope that made it ended (a predictor call"));
        Assert.That(keptInCall.ToArray(), Is.EqualTo(new[] { 2f, 4f, 6f }), "a kept tensor survives the call");
        predictor.Predict([4f, 5f, 6f], new float[3]);
        Assert.That(keptInCall.ToArray(), Is.EqualTo(new[] { 2f, 4f, 6f }), "a kept tensor is not reused by the next call");
    }

    /// <summary>Passes its input on (as a new tensor) and shows that tensor to a callback.</summary>
    private sealed class Spy(Action<Tensor> seen) : Module
    {
        protected override Tensor ForwardCore(Tensor x)
        {
            var y = Ops.Scale(x, 1f);
            seen(y);
            return y;
        }
    }
}
