namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// Softmax along the middle axis of Outer x Axis x Inner: y = exp(x - max) / sum(exp(x - max));
    /// log-softmax y = (x - max) - log(sum(exp(x - max))). One chunk per outer index.
    /// </summary>
    public void Softmax(in SoftmaxGeometry g, bool log, DeviceBuffer x, DeviceBuffer y)
    {
        var xa = Array(x);
        var ya = Array(y);
        int axis = g.Axis, inner = g.Inner;
        _workers.For(g.Outer, (log, xa, ya, axis, inner), static (s, o) =>
        {
            var (log, xa, ya, axis, inner) = s;
            int baseOffset = o * axis * inner;
            for (int j = 0; j < inner; j++)
            {
                int start = baseOffset + j;
                float max = float.NegativeInfinity;
                for (int i = 0; i < axis; i++) max = MathF.Max(max, xa[start + i * inner]);
                float sum = 0f;
                for (int i = 0; i < axis; i++)
                {
                    float e = MathF.Exp(xa[start + i * inner] - max);
                    if (!log) ya[start + i * inner] = e;
                    sum += e;
                }
                if (log)
                {
                    // (x - max) - log(sum), not x - (max + log(sum)): the latter cancels catastrophically for the
                    // largest logits (x = 50 gives an absolute error of ulp(50) on a result near 0).
                    float logSum = MathF.Log(sum);
                    for (int i = 0; i < axis; i++) ya[start + i * inner] = (xa[start + i * inner] - max) - logSum;
                }
                else
                {
                    float inv = 1f / sum;
                    for (int i = 0; i < axis; i++) ya[start + i * inner] *= inv;
                }
            }
        });
    }

    public void SoftmaxBackward(in SoftmaxGeometry g, bool log, DeviceBuffer y, DeviceBuffer dY, DeviceBuffer dX)
    {
        var ya = Array(y);
        var dya = Array(dY);
        var dxa = Array(dX);
        int axis = g.Axis, inner = g.Inner;
        _workers.For(g.Outer, (log, ya, dya, dxa, axis, inner), static (s, o) =>
        {
            var (log, ya, dya, dxa, axis, inner) = s;
            int baseOffset = o * axis * inner;
            for (int j = 0; j < inner; j++)
            {
                int start = baseOffset + j;
                float dot = 0f;
                for (int i = 0; i < axis; i++)
                {
                    int at = start + i * inner;
                    dot += log ? dya[at] : dya[at] * ya[at];
                }
                for (int i = 0; i < axis; i++)
                {
                    int at = start + i * inner;
                    dxa[at] = log ? dya[at] - MathF.Exp(ya[at]) * dot : ya[at] * (dya[at] - dot);
                }
            }
        });
    }

    public void NllLoss(int batch, int classes, DeviceBuffer logProb, DeviceBuffer targets, DeviceBuffer loss)
    {
        var lp = Array(logProb);
        var t = Array(targets);
        var l = Array(loss);
        for (int n = 0; n < batch; n++) l[n] = -lp[n * classes + (int)t[n]];
    }

    public void NllLossBackward(int batch, int classes, DeviceBuffer targets, DeviceBuffer dLoss, DeviceBuffer dLogProb)
    {
        var t = Array(targets);
        var dl = Array(dLoss);
        var d = Array(dLogProb);
        d.AsSpan(0, batch * classes).Clear();
        for (int n = 0; n < batch; n++) d[n * classes + (int)t[n]] = -dl[n];
    }
}
