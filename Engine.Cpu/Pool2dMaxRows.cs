using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Legend: H x W input plane, P x Q output plane, kh x kw window, sw the column stride.
public sealed partial class CpuBackend
{
    /// <summary>
    /// Fixed windows with column stride 1 or 2 and no column dilation, on planes at least 16 outputs wide, with AVX-512
    /// (<see cref="GemmKernels.Use512"/>; else the 8-lane gathers or the scalar loop):
    /// each window tap of 16 neighbouring outputs is one stretch of an input row (no gathers, which are slow on
    /// virtualized CPUs with the gather-sampling mitigation).
    /// </summary>
    private static bool UseRowMaxPool(in Pool2dGeometry g) =>
        GemmKernels.Use512 && !g.IsAdaptive && !ForceScalarMaxPool && g.Stride.Width is 1 or 2 && g.Dilation.Width == 1
        && g.OutWidth >= 16 && (long)g.InHeight * g.InWidth < 1 << 24;

    /// <summary>
    /// Max pooling of one plane, 16 outputs of one output row at a time: per window tap (i, j), in row-major order,
    /// lane l reads x[h, w] with h = h0(p) + i*dh and w = q*sw - left + j for q = q0 + l (one masked load, or for
    /// stride 2 two masked loads de-interleaved by vpermt2ps), masked off outside the input, and takes it where it is
    /// the lane's first valid tap, is greater than the lane's best, or is NaN: the scalar rule tap for tap, so values
    /// and indices (flat h*W + w, exact as floats below 2^24) are the scalar loop's bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxPoolPlaneRows(in Pool2dGeometry g, float* src, float* y, float* indices)
    {
        Wide512Meter.Enter();
        int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth;
        int kw = g.Kernel.Width, sw = g.Stride.Width, left = g.Padding.Left;
        var lane = Vector512<int>.Indices;
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var width = Vector512.Create(W);
        for (int p = 0; p < P; p++)
        {
            var (h0, kh, dh) = g.RowWindow(p);
            for (int q0 = 0; q0 < Q; q0 += 16)
            {
                var active = Vector512.LessThan(lane, Vector512.Create(Q - q0));
                var best = Vector512.Create(float.NegativeInfinity);
                var at = Vector512.Create(-1f);
                var unset = active;
                for (int i = 0; i < kh; i++)
                {
                    int h = h0 + i * dh;
                    if ((uint)h >= (uint)H) continue;
                    float* row = src + (nint)h * W;
                    for (int j = 0; j < kw; j++)
                    {
                        // lane l reads column first + l*sw
                        int first = q0 * sw - left + j;
                        var column = Vector512.Create(first) + lane * sw;
                        var valid = active & Vector512.GreaterThanOrEqual(column, Vector512<int>.Zero) & Vector512.LessThan(column, width);
                        Vector512<float> v;
                        if (sw == 1) v = Avx512F.MaskLoad(row + first, valid.AsSingle(), Vector512<float>.Zero);
                        else
                        {
                            var low = Vector512.Create(first) + lane;
                            var high = low + Vector512.Create(16);
                            var a = Avx512F.MaskLoad(row + first, (Vector512.GreaterThanOrEqual(low, Vector512<int>.Zero) & Vector512.LessThan(low, width)).AsSingle(), Vector512<float>.Zero);
                            var b = Avx512F.MaskLoad(row + first + 16, (Vector512.GreaterThanOrEqual(high, Vector512<int>.Zero) & Vector512.LessThan(high, width)).AsSingle(), Vector512<float>.Zero);
                            v = Avx512F.PermuteVar16x32x2(a, even, b);
                        }
                        var isNaN = ~Vector512.Equals(v, v).AsInt32();
                        var take = (valid & (unset | Vector512.GreaterThan(v, best).AsInt32() | isNaN)).AsSingle();
                        best = Vector512.ConditionalSelect(take, v, best);
                        at = Vector512.ConditionalSelect(take, Vector512.ConvertToSingle(Vector512.Create(h * W) + column), at);
                        unset &= ~valid;
                    }
                }
                Avx512F.MaskStore(y + (nint)p * Q + q0, active.AsSingle(), best);
                Avx512F.MaskStore(indices + (nint)p * Q + q0, active.AsSingle(), at);
            }
        }
    }
}
