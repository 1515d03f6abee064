namespace Engine;

/// <summary>
/// Scalar definitions of the elementwise functions (PyTorch's formulas), for backends' generic paths.
/// Derivatives take x and the forward output y, whichever is cheaper.
/// </summary>
public static class UnaryMath
{
    private const float SeluAlpha = 1.6732632423543772848170429916717f, SeluScale = 1.0507009873554804934193349852946f;
    private const float SqrtHalf = 0.70710678118654752440f, InvSqrt2Pi = 0.39894228040143267794f, SqrtTwoOverPi = 0.79788456080286535588f;

    public static float Forward(UnaryOp op, float alpha, float x) => op switch
    {
        UnaryOp.Relu => x > 0f ? x : 0f,
        UnaryOp.Tanh => MathF.Tanh(x),
        UnaryOp.Sigmoid => 1f / (1f + MathF.Exp(-x)),
        UnaryOp.Scale => alpha * x,
        UnaryOp.AddScalar => x + alpha,
        UnaryOp.Exp => MathF.Exp(x),
        UnaryOp.Log => MathF.Log(x),
        UnaryOp.Square => x * x,
        UnaryOp.Abs => MathF.Abs(x),
        UnaryOp.DropoutMask => x >= alpha ? 1f / (1f - alpha) : 0f,
        UnaryOp.LeakyRelu => x > 0f ? x : alpha * x,
        UnaryOp.Elu => x > 0f ? x : alpha * (MathF.Exp(x) - 1f),
        UnaryOp.Selu => SeluScale * (x > 0f ? x : SeluAlpha * (MathF.Exp(x) - 1f)),
        UnaryOp.Gelu => 0.5f * x * (1f + Erf(x * SqrtHalf)),
        UnaryOp.GeluTanh => 0.5f * x * (1f + MathF.Tanh(SqrtTwoOverPi * (x + 0.044715f * x * x * x))),
        UnaryOp.Silu => x / (1f + MathF.Exp(-x)),
        UnaryOp.Hardswish => x <= -3f ? 0f : x >= 3f ? x : x * (x + 3f) / 6f,
        UnaryOp.Hardsigmoid => x <= -3f ? 0f : x >= 3f ? 1f : x / 6f + 0.5f,
        UnaryOp.Mish => x * MathF.Tanh(Softplus(x, 1f)),
        UnaryOp.Softplus => Softplus(x, alpha),
        UnaryOp.Relu6 => MathF.Min(MathF.Max(x, 0f), 6f),
        UnaryOp.Pow => MathF.Pow(x, alpha),
        UnaryOp.Sqrt => MathF.Sqrt(x),
        UnaryOp.Rsqrt => 1f / MathF.Sqrt(x),
        UnaryOp.SmoothL1 => MathF.Abs(x) < alpha ? 0.5f * x * x / alpha : MathF.Abs(x) - 0.5f * alpha,
        UnaryOp.Erf => Erf(x),
        _ => throw new NotSupportedException($"unary op {op}"),
    };

    /// <summary>dy/dx at x (y = Forward(x)).</summary>
    public static float Derivative(UnaryOp op, float alpha, float x, float y)
    {
        switch (op)
        {
            case UnaryOp.Relu: return x > 0f ? 1f : 0f;
            case UnaryOp.Tanh: return 1f - y * y;
            case UnaryOp.Sigmoid: return y * (1f - y);
            case UnaryOp.Scale: return alpha;
            case UnaryOp.AddScalar: return 1f;
            case UnaryOp.Exp: return y;
            case UnaryOp.Log: return 1f / x;
            case UnaryOp.Square: return 2f * x;
            case UnaryOp.Abs: return x > 0f ? 1f : x < 0f ? -1f : 0f;
            case UnaryOp.LeakyRelu: return x > 0f ? 1f : alpha;
            case UnaryOp.Elu: return x > 0f ? 1f : y + alpha;
            case UnaryOp.Selu: return x > 0f ? SeluScale : SeluScale * SeluAlpha * MathF.Exp(x);
            case UnaryOp.Gelu: return 0.5f * (1f + Erf(x * SqrtHalf)) + x * InvSqrt2Pi * MathF.Exp(-0.5f * x * x);
            case UnaryOp.GeluTanh:
            {
                float t = MathF.Tanh(SqrtTwoOverPi * (x + 0.044715f * x * x * x));
                return 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * SqrtTwoOverPi * (1f + 3f * 0.044715f * x * x);
            }
            case UnaryOp.Silu:
            {
                float s = 1f / (1f + MathF.Exp(-x));
                return s * (1f + x * (1f - s));
            }
            case UnaryOp.Hardswish: return x < -3f ? 0f : x <= 3f ? x / 3f + 0.5f : 1f;
            case UnaryOp.Hardsigmoid: return x > -3f && x < 3f ? 1f / 6f : 0f;
            case UnaryOp.Mish:
            {
                float t = MathF.Tanh(Softplus(x, 1f)), s = 1f / (1f + MathF.Exp(-x));
                return t + x * (1f - t * t) * s;
            }
            case UnaryOp.Softplus: return alpha * x > 20f ? 1f : 1f / (1f + MathF.Exp(-alpha * x));
            case UnaryOp.Relu6: return x > 0f && x < 6f ? 1f : 0f;
            case UnaryOp.Pow: return alpha * MathF.Pow(x, alpha - 1f);
            case UnaryOp.Sqrt: return 0.5f / y;
            case UnaryOp.Rsqrt: return -0.5f * y * y * y;
            case UnaryOp.SmoothL1: return MathF.Abs(x) < alpha ? x / alpha : x > 0f ? 1f : x < 0f ? -1f : 0f;
            case UnaryOp.Erf: return 1.1283791670955126f * MathF.Exp(-x * x);
            default: throw new NotSupportedException($"unary op {op} has no derivative");
        }
    }

    private static float Softplus(float x, float beta) =>
        beta * x > 20f ? x : MathF.Log(1f + MathF.Exp(beta * x)) / beta;

    /// <summary>
    /// erf in double precision, rounded to float: the Maclaurin series below |x| = 3, the continued fraction of
    /// erfc above (both converge to far better than float precision there).
    /// </summary>
    public static float Erf(float x) => (float)Erf((double)x);

    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x);
        if (a >= 6.0) return Math.Sign(x);
        if (a < 3.0)
        {
            // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            double term = x, sum = x, x2 = x * x;
            for (int n = 1; n < 80; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            return 1.1283791670955126 * sum;
        }
        // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...))))), evaluated bottom-up.
        double f = a;
        for (int k = 60; k >= 1; k--) f = a + k * 0.5 / f;
        double erfc = Math.Exp(-a * a) / (Math.Sqrt(Math.PI) * f);
        return Math.Sign(x) * (1.0 - erfc);
    }
}
