namespace Engine.Nn;

public sealed class ReLU : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Relu(x);
}

public sealed class Tanh : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Tanh(x);
}

public sealed class Sigmoid : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Sigmoid(x);
}

/// <summary>Softmax along <see cref="Axis"/> (PyTorch's dim).</summary>
public sealed class Softmax(int axis = -1) : Module
{
    public int Axis { get; } = axis;
    protected override Tensor ForwardCore(Tensor x) => Ops.Softmax(x, Axis);
}

/// <summary>Log-softmax along <see cref="Axis"/>.</summary>
public sealed class LogSoftmax(int axis = -1) : Module
{
    public int Axis { get; } = axis;
    protected override Tensor ForwardCore(Tensor x) => Ops.LogSoftmax(x, Axis);
}

/// <summary>Merges axes from <see cref="StartAxis"/> on: (N,C,H,W) to (N, C*H*W).</summary>
public sealed class Flatten(int startAxis = 1) : Module
{
    public int StartAxis { get; } = startAxis;
    protected override Tensor ForwardCore(Tensor x) => Ops.Flatten(x, StartAxis);
}

/// <summary>Inverted dropout with probability <see cref="P"/>; the identity in eval mode.</summary>
public sealed class Dropout : Module
{
    private readonly Generator? _generator;

    public Dropout(float p = 0.5f, Generator? generator = null)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentException($"Dropout: expected a probability in [0, 1], got {p}");
        P = p;
        _generator = generator;
    }

    public float P { get; }
    protected override Tensor ForwardCore(Tensor x) => Ops.Dropout(x, P, Training, _generator);
}

/// <summary>Cross-entropy from logits and class indices (PyTorch's nn.CrossEntropyLoss).</summary>
public sealed class CrossEntropyLoss(Reduction reduction = Reduction.Mean)
{
    public Reduction Reduction { get; } = reduction;
    public Tensor Forward(Tensor logits, Tensor targets) => Ops.CrossEntropy(logits, targets, Reduction);
}

/// <summary>Mean squared error (PyTorch's nn.MSELoss).</summary>
public sealed class MseLoss(Reduction reduction = Reduction.Mean)
{
    public Reduction Reduction { get; } = reduction;
    public Tensor Forward(Tensor input, Tensor target) => Ops.MseLoss(input, target, Reduction);
}
