using BenchmarkDotNet.Attributes;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Bench.Gpu;

/// <summary>
/// Whole training steps on the GPU (forward, cross-entropy, backward, SGD with momentum, the loss read back):
/// LeNet-5 on 28x28 digits and ResNet-18 on 224x224 images. The rate column is training images per second.
/// </summary>
[Config(typeof(GpuConfig))]
public class TrainingGpuBench : GpuBench
{
    private Module _model = null!;
    private Sgd _optimizer = null!;
    private float[] _images = null!;
    private int[] _labels = null!;

    [Params("lenet5", "resnet18")]
    public string Model { get; set; } = "lenet5";

    [Params(64)]
    public int Batch { get; set; } = 64;

    /// <summary>Input side; 0 = the model's own (28 for LeNet-5, 224 for ResNet-18).</summary>
    public int ImageSize { get; set; }

    public override string WorkUnit => "image";

    public override double WorkOf(string method) => Batch;

    private (int Channels, int Size, int Classes) Input() => Model switch
    {
        "lenet5" => (1, ImageSize > 0 ? ImageSize : 28, 10),
        "resnet18" => (3, ImageSize > 0 ? ImageSize : 224, 1000),
        _ => throw new ArgumentException($"expected model lenet5 or resnet18, got '{Model}'"),
    };

    [GlobalSetup]
    public void Setup()
    {
        var (channels, size, classes) = Input();
        Open();
        _model = Model == "lenet5" ? new LeNet5(generator: new Generator(7)) : new ResNet(18);
        _model.To(Cuda);
        _model.Train();
        _optimizer = new Sgd(_model.Parameters(), 0.01f, momentum: 0.9f);
        _images = new Generator(8).Uniform(Batch * channels * size * size, -1f, 1f);
        _labels = Enumerable.Range(0, Batch).Select(i => i * 37 % classes).ToArray();
    }

    /// <summary>One step; reading the loss back synchronises with the device.</summary>
    [Benchmark]
    public float TrainStep()
    {
        var (channels, size, _) = Input();
        using var scope = Scope.Begin();
        _optimizer.ZeroGrad();
        var x = Tensor.FromArray(Cuda, _images, new Shape(Batch, channels, size, size));
        var loss = Ops.CrossEntropy(_model.Forward(x), _labels);
        loss.Backward();
        _optimizer.Step();
        return loss.Item();
    }
}
