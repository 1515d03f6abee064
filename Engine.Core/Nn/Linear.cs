namespace Engine.Nn;

/// <summary>y = x W^T + b over the last axis (PyTorch's nn.Linear): weight (out, in), bias (out), Kaiming-uniform initialized.</summary>
public sealed class Linear : Module
{
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? generator = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Linear: expected positive feature counts, got in {inFeatures}, out {outFeatures}");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var shape = new Shape(outFeatures, inFeatures);
        Weight = AddParameter("weight", shape, Init.KaimingUniform(shape.Size, inFeatures, generator));
        if (bias) Bias = AddParameter("bias", new Shape(outFeatures), Init.BiasUniform(outFeatures, inFeatures, generator));
    }

    public int InFeatures { get; }
    public int OutFeatures { get; private set; }
    public Parameter Weight { get; private set; }
    public Parameter? Bias { get; private set; }

    /// <summary>
    /// Makes this layer produce <paramref name="outFeatures"/> outputs with freshly initialized weight and bias
    /// (replacing a classifier head for fine-tuning); the new parameters are on the old ones' backend.
    /// </summary>
    public void ResetOutputs(int outFeatures, Generator? generator = null)
    {
        if (outFeatures <= 0) throw new ArgumentException($"{Describe()}: expected a positive number of outputs, got {outFeatures}");
        var shape = new Shape(outFeatures, InFeatures);
        Weight = ReplaceParameter(Weight, shape, Init.KaimingUniform(shape.Size, InFeatures, generator));
        if (Bias is not null) Bias = ReplaceParameter(Bias, new Shape(outFeatures), Init.BiasUniform(outFeatures, InFeatures, generator));
        OutFeatures = outFeatures;
    }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank < 1 || x.Shape[x.Rank - 1] != InFeatures)
            throw new ArgumentException($"{Describe()}: expected input with {InFeatures} features (...,{InFeatures}), got {x.Shape}");
        if (x.Rank == 2) return Ops.Linear(x, Weight.Value, Bias?.Value, Describe());
        // Any leading axes: (..., in) -> (rows, in) -> (rows, out) -> (..., out).
        var rows = Ops.Reshape(x, new Shape(x.Length / InFeatures, InFeatures));
        var y = Ops.Linear(rows, Weight.Value, Bias?.Value, Describe());
        return Ops.Reshape(y, x.Shape.With(x.Rank - 1, OutFeatures));
    }
}
