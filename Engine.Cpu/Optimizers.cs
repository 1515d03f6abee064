using System.Runtime.CompilerServices;

namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>
    /// One SGD update in place (see <see cref="SgdSettings"/>; PyTorch's order of operations), 16 lanes at a time (8
    /// without <see cref="GemmKernels.Use512"/>) with
    /// each multiply and add rounded on its own as in the scalar tail (no fused multiply-add), so every lane has the
    /// scalar bits.
    /// </summary>
    public void SgdStep(in SgdSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentum, int count)
    {
        var st = s;
        var p = Array(param);
        var g = Array(grad);
        var m = momentum is null ? null : Array(momentum);
        ForRange(count, (st, p, g, m), static (s, start, length) =>
        {
            var (st, p, g, m) = s;
            int i = start, end = start + length;
            if (m is not null) i = GemmKernels.Use512 ? SgdMomentumVector<Lanes512>(st, p, g, m, start, end) : SgdMomentumVector<Lanes256>(st, p, g, m, start, end);
            for (; i < end; i++)
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

    /// <summary>The momentum update of <see cref="SgdStep"/> over whole vectors of [start, end); returns where it stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int SgdMomentumVector<TLanes>(in SgdSettings st, float[] p, float[] g, float[] m, int start, int end)
        where TLanes : struct, ILanes<TLanes>
    {
        if (TLanes.Is512) Wide512Meter.Enter();
        var decay = TLanes.Create(st.WeightDecay);
        var mu = TLanes.Create(st.Momentum);
        var keep = TLanes.Create(1f - st.Dampening);
        var rate = TLanes.Create(st.LearningRate);
        bool withDecay = st.WeightDecay != 0f, first = st.FirstStep, nesterov = st.Nesterov;
        int i = start;
        fixed (float* ps = p, gs = g, ms = m)
        {
            for (; i + TLanes.Count <= end; i += TLanes.Count)
            {
                var pv = TLanes.Load(ps + i);
                var d = TLanes.Load(gs + i);
                if (withDecay) d += decay * pv;
                var buf = first ? d : mu * TLanes.Load(ms + i) + keep * d;
                buf.Store(ms + i);
                d = nesterov ? d + mu * buf : buf;
                (pv - rate * d).Store(ps + i);
            }
        }
        return i;
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
