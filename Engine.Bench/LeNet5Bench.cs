using BenchmarkDotNet.Attributes;
using Engine.Cpu;
using Engine.Models;
using Engine.Optim;

namespace Engine.Bench;

/// <summary>LeNet-5 at batch 64: one training step (forward, cross-entropy, backward, SGD with momentum) and inference.</summary>
public class LeNet5Bench : IDisposable
{
    private const int Batch = 64;
    private CpuBackend _backend = null!;
    private LeNet5 _model = null!;
    private Sgd _optimizer = null!;
    private float[] _images = null!;
    private readonly int[] _labels = Enumerable.Range(0, Batch).Select(i => i % 10).ToArray();

    [Params(2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _backend = new CpuBackend(Threads);
        _model = new LeNet5(generator: new Generator(7));
        _model.To(_backend);
        _optimizer = new Sgd(_model.Parameters(), 0.01f, momentum: 0.9f);
        _images = new Generator(8).Uniform(Batch * 28 * 28, -1f, 1f);
    }

    [Benchmark]
    public float TrainStep()
    {
        using var scope = Scope.Begin();
        _model.Train();
        _optimizer.ZeroGrad();
        var loss = Ops.CrossEntropy(_model.Forward(Tensor.FromArray(_backend, _images, new Shape(Batch, 1, 28, 28))), _labels);
        loss.Backward();
        _optimizer.Step();
        return loss.Item();
    }

    [Benchmark]
    public float Inference()
    {
        using var scope = Scope.Begin();
        _model.Eval();
        using (Autograd.NoGrad())
            return _model.Forward(Tensor.FromArray(_backend, _images, new Shape(Batch, 1, 28, 28))).ToArray()[0];
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _backend?.Dispose();
        GC.SuppressFinalize(this);
    }
}
