namespace Engine.Optim;

/// <summary>
/// RMSprop with PyTorch's semantics: g = grad + wd*p; s = alpha*s + (1-alpha)*g^2; centered: a = alpha*a + (1-alpha)*g,
/// denominator sqrt(s - a^2) + eps (else sqrt(s) + eps); with momentum buf = momentum*buf + g/denominator, p -= lr*buf;
/// without, p -= lr * g/denominator. Composed from backend primitives, so it runs on every backend.
/// </summary>
public sealed class RmsProp : Optimizer
{
    private readonly Tensor?[] _square, _average, _momentum;

    public RmsProp(IEnumerable<Tensor> parameters, float learningRate = 0.01f, float alpha = 0.99f, float epsilon = 1e-8f,
        float weightDecay = 0f, float momentum = 0f, bool centered = false) : base(parameters, learningRate)
    {
        if (!(alpha >= 0f && alpha <= 1f) || !(epsilon >= 0f) || !(weightDecay >= 0f) || !(momentum >= 0f))
            throw new ArgumentException($"RmsProp: expected alpha in [0, 1] and non-negative epsilon, weight decay and momentum, got {alpha}, {epsilon}, {weightDecay}, {momentum}");
        Alpha = alpha;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        Momentum = momentum;
        Centered = centered;
        _square = new Tensor?[Parameters.Count];
        _average = new Tensor?[Parameters.Count];
        _momentum = new Tensor?[Parameters.Count];
    }

    public float Alpha { get; }
    public float Epsilon { get; }
    public float WeightDecay { get; }
    public float Momentum { get; }
    public bool Centered { get; }

    public override IReadOnlyDictionary<string, string> Hyperparameters => Settings(
        ("alpha", Alpha), ("eps", Epsilon), ("weight_decay", WeightDecay), ("momentum", Momentum), ("centered", Centered ? 1f : 0f));

    protected override IReadOnlyList<(string Slot, Tensor?[] Tensors)> StateSlots =>
        [("square_avg", _square), ("grad_avg", _average), ("momentum_buffer", _momentum)];

    protected override void Update(int index, Tensor p, Tensor grad)
    {
        // A pooled scope (its temporaries recycled inside a recycling training step): nothing made here outlives it.
        using var scope = Scope.BeginInternal();
        using var noGrad = Autograd.NoGrad();
        var g = WeightDecay != 0f ? Ops.Add(grad, Ops.Scale(p, WeightDecay)) : grad;
        var square = _square[index] ??= State(p);
        square.CopyFrom(Ops.Add(Ops.Scale(square, Alpha), Ops.Scale(Ops.Square(g), 1f - Alpha)));
        Tensor variance = square;
        if (Centered)
        {
            var average = _average[index] ??= State(p);
            average.CopyFrom(Ops.Add(Ops.Scale(average, Alpha), Ops.Scale(g, 1f - Alpha)));
            variance = Ops.Subtract(square, Ops.Square(average));
        }
        var step = Ops.Divide(g, Ops.AddScalar(Ops.Sqrt(variance), Epsilon));
        if (Momentum > 0f)
        {
            var buffer = _momentum[index] ??= State(p);
            buffer.CopyFrom(Ops.Add(Ops.Scale(buffer, Momentum), step));
            step = buffer;
        }
        p.CopyFrom(Ops.Subtract(p, Ops.Scale(step, LearningRate)));
    }
}

/// <summary>Gradient clipping.</summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients together so their joint norm (of the given order; +inf for the max) is at most
    /// <paramref name="maxNorm"/> (PyTorch's clip_grad_norm_: factor maxNorm / (norm + 1e-6) when below 1).
    /// Returns the norm before clipping.
    /// </summary>
    public static float ClipNorm(IEnumerable<Tensor> parameters, float maxNorm, float normType = 2f)
    {
        if (!(maxNorm >= 0f) || !(normType > 0f)) throw new ArgumentException($"gradient clipping: expected a non-negative max norm and a positive norm type, got {maxNorm} and {normType}");
        var list = parameters as IReadOnlyList<Tensor> ?? [.. parameters];
        double total = 0;
        bool any = false;
        // A pooled scope: inside a recycling training step its tensors are recycled with the step's.
        using (Scope.BeginInternal())
        using (Autograd.NoGrad())
        {
            for (int i = 0; i < list.Count; i++)
            {
                if (list[i].Grad is not { } g) continue;
                any = true;
                if (float.IsPositiveInfinity(normType)) total = Math.Max(total, g.ToArray().Max(MathF.Abs));
                else total += Ops.Sum(Ops.Pow(Ops.Abs(g), normType)).Item();
            }
        }
        if (!any) return 0f;
        float norm = float.IsPositiveInfinity(normType) ? (float)total : (float)Math.Pow(total, 1.0 / normType);
        float factor = maxNorm / (norm + 1e-6f);
        if (factor < 1f)
            for (int i = 0; i < list.Count; i++)
                if (list[i].Grad is { } g) g.Backend.Unary(UnaryOp.Scale, factor, g.Buffer, g.Buffer, g.Length);
        return norm;
    }
}
