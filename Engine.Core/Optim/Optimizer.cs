namespace Engine.Optim;

/// <summary>Updates parameters from their gradients; state tensors are kept across steps.</summary>
public abstract partial class Optimizer
{
    protected Optimizer(IEnumerable<Tensor> parameters, float learningRate)
    {
        Parameters = parameters.ToList();
        if (Parameters.Count == 0) throw new ArgumentException($"{GetType().Name}: expected at least one parameter");
        if (!(learningRate >= 0f)) throw new ArgumentException($"{GetType().Name}: expected a non-negative learning rate, got {learningRate}");
        LearningRate = learningRate;
    }

    public IReadOnlyList<Tensor> Parameters { get; }
    public float LearningRate { get; set; }

    /// <summary>Number of completed steps.</summary>
    public int StepCount { get; protected set; }

    /// <summary>The settings other than the learning rate, by PyTorch's names; resuming requires them unchanged.</summary>
    public abstract IReadOnlyDictionary<string, string> Hyperparameters { get; }

    /// <summary>Per-parameter state by PyTorch's slot names: one entry per parameter, null until its first step.</summary>
    protected abstract IReadOnlyList<(string Slot, Tensor?[] Tensors)> StateSlots { get; }

    /// <summary>Per-parameter step counts, for optimizers that keep them (Adam); null otherwise.</summary>
    protected virtual int[]? ParameterSteps => null;

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad is not null) Update(i, p, p.Grad);
        }
    }

    protected abstract void Update(int index, Tensor parameter, Tensor grad);

    /// <summary>
    /// Zeroes every gradient, keeping the buffers for the next step. The zeros are deferred: the next backward pass
    /// writes its gradient over them, and any other read of <see cref="Tensor.Grad"/> sees them filled in.
    /// </summary>
    public void ZeroGrad()
    {
        for (int i = 0; i < Parameters.Count; i++) Parameters[i].ZeroGradDeferred();
    }

    protected static Tensor State(Tensor like) => Tensor.Zeros(like.Backend, like.Shape).Keep();
}

/// <summary>
/// Stochastic gradient descent with PyTorch's semantics: g = grad + wd*p; buf = momentum*buf + (1-dampening)*g
/// (buf = g on the first step); g = nesterov ? g + momentum*buf : buf; p -= lr*g.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor?[] _momentum;

    public Sgd(IEnumerable<Tensor> parameters, float learningRate, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, learningRate)
    {
        if (momentum < 0f || weightDecay < 0f) throw new ArgumentException($"Sgd: expected non-negative momentum and weight decay, got {momentum} and {weightDecay}");
        if (nesterov && (momentum <= 0f || dampening != 0f)) throw new ArgumentException("Sgd: Nesterov momentum requires a momentum and zero dampening");
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        _momentum = new Tensor?[Parameters.Count];
    }

    public float Momentum { get; }
    public float Dampening { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

    public override IReadOnlyDictionary<string, string> Hyperparameters => Settings(
        ("momentum", Momentum), ("dampening", Dampening), ("weight_decay", WeightDecay), ("nesterov", Nesterov ? 1f : 0f));

    protected override IReadOnlyList<(string Slot, Tensor?[] Tensors)> StateSlots => [("momentum_buffer", _momentum)];

    protected override void Update(int index, Tensor p, Tensor grad)
    {
        bool first = false;
        if (Momentum != 0f && _momentum[index] is null)
        {
            _momentum[index] = State(p);
            first = true;
        }
        var s = new SgdSettings(LearningRate, Momentum, Dampening, WeightDecay, Nesterov, first);
        p.Backend.SgdStep(s, p.Buffer, grad.Buffer, _momentum[index]?.Buffer, p.Length);
    }
}

/// <summary>
/// Adam (Kingma and Ba), PyTorch's semantics: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). Weight decay adds wd*p to g (Adam) or, when decoupled
/// (AdamW), multiplies p by 1 - lr*wd first.
/// </summary>
public class Adam : Optimizer
{
    private readonly Tensor?[] _m, _v;
    private readonly int[] _steps;
    private readonly bool _decoupled;

    public Adam(IEnumerable<Tensor> parameters, float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0f)
        : this(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupled: false) { }

    protected Adam(IEnumerable<Tensor> parameters, float learningRate, float beta1, float beta2, float epsilon, float weightDecay, bool decoupled)
        : base(parameters, learningRate)
    {
        if (!(beta1 >= 0f && beta1 < 1f && beta2 >= 0f && beta2 < 1f))
            throw new ArgumentException($"{GetType().Name}: expected betas in [0, 1), got ({beta1}, {beta2})");
        if (!(epsilon >= 0f && weightDecay >= 0f))
            throw new ArgumentException($"{GetType().Name}: expected non-negative epsilon and weight decay, got {epsilon} and {weightDecay}");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        _decoupled = decoupled;
        _m = new Tensor?[Parameters.Count];
        _v = new Tensor?[Parameters.Count];
        _steps = new int[Parameters.Count];
    }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    public float WeightDecay { get; }

    public override IReadOnlyDictionary<string, string> Hyperparameters => Settings(
        ("beta1", Beta1), ("beta2", Beta2), ("eps", Epsilon), ("weight_decay", WeightDecay));

    protected override IReadOnlyList<(string Slot, Tensor?[] Tensors)> StateSlots => [("exp_avg", _m), ("exp_avg_sq", _v)];

    protected override int[] ParameterSteps => _steps;

    protected override void Update(int index, Tensor p, Tensor grad)
    {
        var m = _m[index] ??= State(p);
        var v = _v[index] ??= State(p);
        var s = new AdamSettings(LearningRate, Beta1, Beta2, Epsilon, WeightDecay, _decoupled, ++_steps[index]);
        p.Backend.AdamStep(s, p.Buffer, grad.Buffer, m.Buffer, v.Buffer, p.Length);
    }
}

/// <summary>AdamW (Loshchilov and Hutter): Adam with decoupled weight decay, default 0.01.</summary>
public sealed class AdamW(IEnumerable<Tensor> parameters, float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 1e-2f)
    : Adam(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupled: true);
