namespace Engine;

public static partial class Ops
{
    /// <summary>
    /// Inverted dropout: in training each element is zeroed with probability p and the rest scaled by 1/(1-p);
    /// the mask comes from the Philox stream of <paramref name="generator"/>, so every backend draws the same mask.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Generator? generator = null)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentException($"Dropout: expected a probability in [0, 1], got {p}");
        if (!training || p == 0f) return x;
        var gen = generator ?? Generator.Default;
        var be = x.Backend;
        var mask = Tensor.Empty(be, x.Shape);
        be.RandomUniform(gen.Seed, gen.Advance(x.Length), mask.Buffer, x.Length);
        be.Unary(UnaryOp.DropoutMask, p, mask.Buffer, mask.Buffer, x.Length);
        return Multiply(x, mask);
    }
}
