namespace Engine.Tests.Reference;

/// <summary>
/// Softmax and log-softmax along the middle axis of Outer x Axis x Inner, their backward through the explicit
/// Jacobian, and the negative log-likelihood, in double.
/// </summary>
public static class SoftmaxReference
{
    public static double[] Softmax(int outer, int axis, int inner, bool log, double[] x)
    {
        var y = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                int At(int i) => (o * axis + i) * inner + j;
                double max = double.NegativeInfinity;
                for (int i = 0; i < axis; i++) max = Math.Max(max, x[At(i)]);
                double sum = 0;
                for (int i = 0; i < axis; i++) sum += Math.Exp(x[At(i)] - max);
                for (int i = 0; i < axis; i++)
                    y[At(i)] = log ? x[At(i)] - max - Math.Log(sum) : Math.Exp(x[At(i)] - max) / sum;
            }
        return y;
    }

    /// <summary>
    /// dX[i] = sum_k dY[k] * dy_k/dx_i with dy_k/dx_i = s_k (delta_ki - s_i) for softmax and delta_ki - s_i for
    /// log-softmax, s = softmax(x).
    /// </summary>
    public static double[] SoftmaxBackward(int outer, int axis, int inner, bool log, double[] x, double[] dY)
    {
        var s = Softmax(outer, axis, inner, false, x);
        var dX = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < inner; j++)
            {
                int At(int i) => (o * axis + i) * inner + j;
                for (int i = 0; i < axis; i++)
                {
                    double sum = 0;
                    for (int k = 0; k < axis; k++)
                    {
                        double delta = k == i ? 1 : 0;
                        double jacobian = log ? delta - s[At(i)] : s[At(k)] * (delta - s[At(i)]);
                        sum += dY[At(k)] * jacobian;
                    }
                    dX[At(i)] = sum;
                }
            }
        return dX;
    }

    /// <summary>loss[n] = -logProb[n, target[n]].</summary>
    public static double[] NllLoss(int batch, int classes, double[] logProb, int[] targets)
    {
        var loss = new double[batch];
        for (int n = 0; n < batch; n++) loss[n] = -logProb[n * classes + targets[n]];
        return loss;
    }

    /// <summary>dLogProb[n, c] = -dLoss[n] where c is the target, 0 elsewhere.</summary>
    public static double[] NllLossBackward(int batch, int classes, int[] targets, double[] dLoss)
    {
        var d = new double[batch * classes];
        for (int n = 0; n < batch; n++) d[n * classes + targets[n]] = -dLoss[n];
        return d;
    }
}
