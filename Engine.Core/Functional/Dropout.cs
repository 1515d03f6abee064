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

    /// <summary>
    /// Zeroes whole slices: a mask of <paramref name="maskShape"/> (broadcast over x) keeps each entry with
    /// probability 1 - p, scaled by 1/(1-p). Dropout2d masks (N,C,1,1); stochastic depth masks (N,1,1,1).
    /// </summary>
    public static Tensor DropSlices(Tensor x, float p, bool training, Shape maskShape, Generator? generator = null)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentException($"dropout: expected a probability in [0, 1], got {p}");
        if (!training || p == 0f) return x;
        var gen = generator ?? Generator.Default;
        var be = x.Backend;
        var mask = Tensor.Empty(be, maskShape);
        be.RandomUniform(gen.Seed, gen.Advance(mask.Length), mask.Buffer, mask.Length);
        be.Unary(UnaryOp.DropoutMask, p, mask.Buffer, mask.Buffer, mask.Length);
        return Multiply(x, mask);
    }

    /// <summary>Channel dropout on (N,C,H,W): each (n, c) plane is kept or zeroed as a whole.</summary>
    public static Tensor Dropout2d(Tensor x, float p, bool training, Generator? generator = null)
    {
        if (x.Rank != 4) throw new ArgumentException($"Dropout2d: expected an input (N,C,H,W), got {x.Shape}");
        return DropSlices(x, p, training, new Shape(x.Shape.Batch, x.Shape.Channels, 1, 1), generator);
    }

    /// <summary>Stochastic depth (torchvision's "row" mode): each sample's residual branch is dropped with probability p.</summary>
    public static Tensor StochasticDepth(Tensor x, float p, bool training, Generator? generator = null)
    {
        Span<int> dims = stackalloc int[x.Rank];
        dims.Fill(1);
        dims[0] = x.Shape.Batch;
        return DropSlices(x, p, training, new Shape(dims), generator);
    }
}
