namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>One SGD update in place (see <see cref="SgdSettings"/>; PyTorch's order of operations).</summary>
    public void SgdStep(in SgdSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentum, int count)
    {
        var st = s;
        var p = Array(param);
        var g = Array(grad);
        var m = momentum is null ? null : Array(momentum);
        ForRange(count, (st, p, g, m), static (s, start, length) =>
        {
            var (st, p, g, m) = s;
            for (int i = start; i < start + length; i++)
            {
                float d = g[i];
                if (st.WeightDecay != 0f) d += st.WeightDecay * p[i];
                if (m is not null)
                {
                    float buf = st.FirstStep ? d : st.Momentum * m[i] + (1f - st.Dampening) * d;
                    m[i] = buf;
                    d = st.Nesterov ? d + st.Momentum * buf : buf;
                }
                p[i] -= st.LearningRate * d;
            }
        });
    }

    /// <summary>One Adam/AdamW update in place (see <see cref="AdamSettings"/>).</summary>
    public void AdamStep(in AdamSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, int count)
    {
        var st = s;
        var p = Array(param);
        var g = Array(grad);
        var ma = Array(m);
        var va = Array(v);
        float c1 = 1f - MathF.Pow(st.Beta1, st.Step), c2 = 1f - MathF.Pow(st.Beta2, st.Step);
        float stepSize = st.LearningRate / c1, rootC2 = MathF.Sqrt(c2);
        float decay = st.Decoupled ? 1f - st.LearningRate * st.WeightDecay : 1f;
        ForRange(count, (st, p, g, ma, va, stepSize, rootC2, decay), static (s, start, length) =>
        {
            var (st, p, g, ma, va, stepSize, rootC2, decay) = s;
            for (int i = start; i < start + length; i++)
            {
                float d = g[i];
                if (st.Decoupled) p[i] *= decay;
                else if (st.WeightDecay != 0f) d += st.WeightDecay * p[i];
                ma[i] = st.Beta1 * ma[i] + (1f - st.Beta1) * d;
                va[i] = st.Beta2 * va[i] + (1f - st.Beta2) * d * d;
                p[i] -= stepSize * ma[i] / (MathF.Sqrt(va[i]) / rootC2 + st.Epsilon);
            }
        });
    }
}
