namespace Engine;

public static partial class Ops
{
    public static Tensor LeakyRelu(Tensor x, float negativeSlope = 0.01f) => Unary(UnaryOp.LeakyRelu, x, negativeSlope);
    public static Tensor Elu(Tensor x, float alpha = 1f) => Unary(UnaryOp.Elu, x, alpha);
    public static Tensor Selu(Tensor x) => Unary(UnaryOp.Selu, x);
    /// <summary>GELU, exact (erf) or with the tanh approximation.</summary>
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false) => Unary(tanhApproximation ? UnaryOp.GeluTanh : UnaryOp.Gelu, x);
    public static Tensor Silu(Tensor x) => Unary(UnaryOp.Silu, x);
    public static Tensor Hardswish(Tensor x) => Unary(UnaryOp.Hardswish, x);
    public static Tensor Hardsigmoid(Tensor x) => Unary(UnaryOp.Hardsigmoid, x);
    public static Tensor Mish(Tensor x) => Unary(UnaryOp.Mish, x);
    public static Tensor Softplus(Tensor x, float beta = 1f) => Unary(UnaryOp.Softplus, x, beta);
    public static Tensor Relu6(Tensor x) => Unary(UnaryOp.Relu6, x);
    public static Tensor Pow(Tensor x, float exponent) => Unary(UnaryOp.Pow, x, exponent);
    public static Tensor Sqrt(Tensor x) => Unary(UnaryOp.Sqrt, x);
    public static Tensor Rsqrt(Tensor x) => Unary(UnaryOp.Rsqrt, x);
    public static Tensor Erf(Tensor x) => Unary(UnaryOp.Erf, x);

    /// <summary>
    /// PReLU: y = relu(x) - a * relu(-x), with a learnable slope per channel (axis 1) or one shared slope.
    /// </summary>
    public static Tensor PRelu(Tensor x, Tensor slope)
    {
        if (slope.Rank != 1 || (slope.Length != 1 && (x.Rank < 2 || x.Shape[1] != slope.Length)))
            throw new ArgumentException($"PReLU: expected one slope or one per channel of {x.Shape}, got {slope.Shape}");
        Span<int> dims = stackalloc int[Math.Max(x.Rank - 1, 1)];
        dims.Fill(1);
        dims[0] = slope.Length;
        var a = slope.Length == 1 ? slope : Reshape(slope, new Shape(dims));
        return Subtract(Relu(x), Multiply(a, Relu(Scale(x, -1f))));
    }
}
