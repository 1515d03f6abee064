namespace Engine.Nn;

public sealed class LeakyReLU(float negativeSlope = 0.01f) : Module
{
    public float NegativeSlope { get; } = negativeSlope;
    protected override Tensor ForwardCore(Tensor x) => Ops.LeakyRelu(x, NegativeSlope);
}

public sealed class ELU(float alpha = 1f) : Module
{
    public float Alpha { get; } = alpha;
    protected override Tensor ForwardCore(Tensor x) => Ops.Elu(x, Alpha);
}

public sealed class SELU : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Selu(x);
}

/// <summary>GELU, exact by default; "tanh" approximation as PyTorch's approximate='tanh'.</summary>
public sealed class GELU(bool tanhApproximation = false) : Module
{
    public bool TanhApproximation { get; } = tanhApproximation;
    protected override Tensor ForwardCore(Tensor x) => Ops.Gelu(x, TanhApproximation);
}

public sealed class SiLU : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Silu(x);
}

public sealed class Hardswish : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Hardswish(x);
}

public sealed class Hardsigmoid : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Hardsigmoid(x);
}

public sealed class Mish : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Mish(x);
}

public sealed class Softplus(float beta = 1f) : Module
{
    public float Beta { get; } = beta;
    protected override Tensor ForwardCore(Tensor x) => Ops.Softplus(x, Beta);
}

public sealed class ReLU6 : Module
{
    protected override Tensor ForwardCore(Tensor x) => Ops.Relu6(x);
}

/// <summary>PReLU with one learnable slope, or one per channel (numParameters = C); initialized to 0.25.</summary>
public sealed class PReLU : Module
{
    public PReLU(int numParameters = 1, float init = 0.25f)
    {
        if (numParameters <= 0) throw new ArgumentException($"PReLU: expected a positive parameter count, got {numParameters}");
        Weight = AddParameter("weight", new Shape(numParameters), Init.Constant(numParameters, init));
    }

    public Parameter Weight { get; }
    protected override Tensor ForwardCore(Tensor x) => Ops.PRelu(x, Weight.Value);
}
