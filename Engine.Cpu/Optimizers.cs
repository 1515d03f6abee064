using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
            if (m is not null) i = GemmKernels.Use512 ? SgdMomentumVector(st, p, g, m, start, end) : SgdMomentumVector256(st, p, g, m, start, end);
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
    private static int SgdMomentumVector(in SgdSettings st, float[] p, float[] g, float[] m, int start, int end)
    {
        Wide512Meter.Enter();
        var decay = Vector512.Create(st.WeightDecay);
        var mu = Vector512.Create(st.Momentum);
        var keep = Vector512.Create(1f - st.Dampening);
        var rate = Vector512.Create(st.LearningRate);
        bool withDecay = st.WeightDecay != 0f, first = st.FirstStep, nesterov = st.Nesterov;
        ref float ps = ref MemoryMarshal.GetArrayDataReference(p);
        ref float gs = ref MemoryMarshal.GetArrayDataReference(g);
        ref float ms = ref MemoryMarshal.GetArrayDataReference(m);
        int i = start;
        for (; i + 16 <= end; i += 16)
        {
            var pv = Vector512.LoadUnsafe(ref ps, (nuint)i);
            var d = Vector512.LoadUnsafe(ref gs, (nuint)i);
            if (withDecay) d += decay * pv;
            var buf = first ? d : mu * Vector512.LoadUnsafe(ref ms, (nuint)i) + keep * d;
            buf.StoreUnsafe(ref ms, (nuint)i);
            d = nesterov ? d + mu * buf : buf;
            (pv - rate * d).StoreUnsafe(ref ps, (nuint)i);
        }
        return i;
    }

    /// <summary><see cref="SgdMomentumVector"/> 8 lanes at a time (the same operations, so the same bits).</summary>
    private static int SgdMomentumVector256(in SgdSettings st, float[] p, float[] g, float[] m, int start, int end)
    {
        var decay = Vector256.Create(st.WeightDecay);
        var mu = Vector256.Create(st.Momentum);
        var keep = Vector256.Create(1f - st.Dampening);
        var rate = Vector256.Create(st.LearningRate);
        bool withDecay = st.WeightDecay != 0f, first = st.FirstStep, nesterov = st.Nesterov;
        ref float ps = ref MemoryMarshal.GetArrayDataReference(p);
        ref float gs = ref MemoryMarshal.GetArrayDataReference(g);
        ref float ms = ref MemoryMarshal.GetArrayDataReference(m);
        int i = start;
        for (; i + 8 <= end; i += 8)
        {
            var pv = Vector256.LoadUnsafe(ref ps, (nuint)i);
            var d = Vector256.LoadUnsafe(ref gs, (nuint)i);
            if (withDecay) d += decay * pv;
            var buf = first ? d : mu * Vector256.LoadUnsafe(ref ms, (nuint)i) + keep * d;
            buf.StoreUnsafe(ref ms, (nuint)i);
            d = nesterov ? d + mu * buf : buf;
            (pv - rate * d).StoreUnsafe(ref ps, (nuint)i);
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
