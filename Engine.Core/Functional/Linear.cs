namespace Engine;

public static partial class Ops
{
    /// <summary>
    /// y (N x out) = x (N x in) * w^T (in x out) + bias (out).
    /// dX (N x in) = dY (N x out) * w (out x in); dW (out x in) = dY^T (out x N) * x (N x in); dBias = sum over N of dY.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? bias, string where = "Linear")
    {
        if (x.Rank != 2 || x.Shape[1] != w.Shape[1])
            throw new ArgumentException($"{where}: expected input (N,{w.Shape[1]}), got {x.Shape}");
        x.CheckSameBackend(w, where);
        int n = x.Shape[0], inF = w.Shape[1], outF = w.Shape[0];
        var be = x.Backend;
        var y = Tensor.Empty(be, new Shape(n, outF));
        be.Gemm(new GemmGeometry(false, true, n, outF, inF), 1f, x.Buffer, w.Buffer, 0f, y.Buffer);
        Inspection.Whole(y, x);
        Inspection.AddMacs((long)n * inF * outF);
        if (bias is not null)
            be.Binary(BinaryOp.Add, y.Buffer, y.Shape, bias.Buffer, bias.Shape, y.Buffer, y.Shape);
        if (Autograd.Needs(x, w, bias)) Autograd.Record("Linear", y, new LinearBackward(x, w, bias), x, w, bias);
        return y;
    }

    private readonly struct LinearBackward(Tensor x, Tensor w, Tensor? bias) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var be = x.Backend;
            int n = x.Shape[0], inF = w.Shape[1], outF = w.Shape[0];
            if (x.TracksGrad)
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.Gemm(new GemmGeometry(false, false, n, inF, outF), 1f, dY.Buffer, w.Buffer, 0f, dX.Buffer);
                Autograd.Accumulate(x, dX);
            }
            if (w.TracksGrad)
            {
                var dW = Tensor.Empty(be, w.Shape);
                be.Gemm(new GemmGeometry(true, false, outF, inF, n), 1f, dY.Buffer, x.Buffer, 0f, dW.Buffer);
                Autograd.Accumulate(w, dW);
            }
            if (bias is not null && bias.TracksGrad) Autograd.Accumulate(bias, SumTo(dY, bias.Shape));
        }
    }

    /// <summary>
    /// C (M x N) = A (M x K) * B (K x N). dA = dC * B^T; dB = A^T * dC.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Shape[1] != b.Shape[0])
            throw new ArgumentException($"matmul: expected (M,K) and (K,N), got {a.Shape} and {b.Shape}");
        a.CheckSameBackend(b, "matmul");
        int m = a.Shape[0], k = a.Shape[1], n = b.Shape[1];
        var be = a.Backend;
        var c = Tensor.Empty(be, new Shape(m, n));
        be.Gemm(new GemmGeometry(false, false, m, n, k), 1f, a.Buffer, b.Buffer, 0f, c.Buffer);
        Inspection.AddMacs((long)m * n * k);
        if (Autograd.Needs(a, b)) Autograd.Record("MatMul", c, new MatMulBackward(a, b), a, b);
        return c;
    }

    private readonly struct MatMulBackward(Tensor a, Tensor b) : IBackward
    {
        public void Backward(Tensor dC)
        {
            var be = a.Backend;
            int m = a.Shape[0], k = a.Shape[1], n = b.Shape[1];
            if (a.TracksGrad)
            {
                var dA = Tensor.Empty(be, a.Shape);
                be.Gemm(new GemmGeometry(false, true, m, k, n), 1f, dC.Buffer, b.Buffer, 0f, dA.Buffer);
                Autograd.Accumulate(a, dA);
            }
            if (b.TracksGrad)
            {
                var dB = Tensor.Empty(be, b.Shape);
                be.Gemm(new GemmGeometry(true, false, k, n, m), 1f, a.Buffer, dC.Buffer, 0f, dB.Buffer);
                Autograd.Accumulate(b, dB);
            }
        }
    }
}
