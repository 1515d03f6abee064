using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Legend: H x W input plane, P x Q output plane, kh x kw window, o = p*Q + q the flat output index in a plane.
public sealed partial class CpuBackend
{
    /// <summary>Tests set this to run the scalar max pooling loop where the gathering one would run.</summary>
    internal static bool ForceScalarMaxPool { get; set; }

    /// <summary>Fixed windows (any stride, padding, dilation) on AVX2; adaptive windows keep the scalar loop.</summary>
    private static bool UseVectorMaxPool(in Pool2dGeometry g) =>
        Avx2.IsSupported && !g.IsAdaptive && !ForceScalarMaxPool && (long)g.InHeight * g.InWidth < 1 << 24;

    /// <summary>
    /// Max pooling of one plane, 8 outputs at a time in flat order (so planes narrower than 8 columns still fill the
    /// vector): per window tap (i, j), in row-major order, lane l gathers x[h, w] with h = h0(o+l) + i*dh and
    /// w = w0(o+l) + j*dw, masked off outside the input, and takes it where it is the lane's first valid tap, is
    /// greater than the lane's best, or is NaN. That is the scalar rule tap for tap, so values and indices (flat
    /// h*W + w, exact as floats below 2^24) are the same bits as the scalar loop's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxPoolPlaneVector(in Pool2dGeometry g, float* src, float* y, float* indices)
    {
        int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth, count = P * Q;
        int kh = g.Kernel.Height, kw = g.Kernel.Width, dh = g.Dilation.Height, dw = g.Dilation.Width;
        int sh = g.Stride.Height, sw = g.Stride.Width, top = g.Padding.Top, left = g.Padding.Left;
        int* rowStart = stackalloc int[Lanes];
        int* colStart = stackalloc int[Lanes];
        float* bestOut = stackalloc float[Lanes];
        float* atOut = stackalloc float[Lanes];
        var laneIndex = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var heightLimit = Vector256.Create(H);
        var widthLimit = Vector256.Create(W);
        var rowPitch = Vector256.Create(W);
        int p = 0, q = 0;
        for (int o = 0; o < count; o += Lanes)
        {
            int lanes = Math.Min(Lanes, count - o);
            for (int l = 0; l < Lanes; l++)
            {
                rowStart[l] = p * sh - top;
                colStart[l] = q * sw - left;
                if (l < lanes && ++q == Q)
                {
                    q = 0;
                    p++;
                }
            }
            var active = Vector256.LessThan(laneIndex, Vector256.Create(lanes));
            var h0 = Vector256.Load(rowStart);
            var w0 = Vector256.Load(colStart);
            var best = Vector256.Create(float.NegativeInfinity);
            var at = Vector256.Create(-1f);
            var unset = active;
            for (int i = 0; i < kh; i++)
            {
                var h = h0 + Vector256.Create(i * dh);
                var rowValid = active & Vector256.LessThan(h.AsUInt32(), heightLimit.AsUInt32()).AsInt32();
                if (rowValid == Vector256<int>.Zero) continue;
                var rowOffset = h * rowPitch;
                for (int j = 0; j < kw; j++)
                {
                    var w = w0 + Vector256.Create(j * dw);
                    var valid = rowValid & Vector256.LessThan(w.AsUInt32(), widthLimit.AsUInt32()).AsInt32();
                    var offset = rowOffset + w;
                    var v = Avx2.GatherMaskVector256(best, src, offset, valid.AsSingle(), sizeof(float));
                    var take = valid & (unset | (Vector256.GreaterThan(v, best) | ~Vector256.Equals(v, v)).AsInt32());
                    best = Vector256.ConditionalSelect(take.AsSingle(), v, best);
                    at = Vector256.ConditionalSelect(take.AsSingle(), Vector256.ConvertToSingle(offset), at);
                    unset &= ~valid;
                }
            }
            if (lanes == Lanes)
            {
                best.Store(y + o);
                at.Store(indices + o);
                continue;
            }
            best.Store(bestOut);
            at.Store(atOut);
            for (int l = 0; l < lanes; l++)
            {
                y[o + l] = bestOut[l];
                indices[o + l] = atOut[l];
            }
        }
    }

    private const int Lanes = 8;
}
