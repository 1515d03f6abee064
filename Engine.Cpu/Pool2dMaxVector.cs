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
            StoreLanes(best, at, y + o, indices + o, lanes);
        }
    }

    private const int Lanes = 8;

    /// <summary>The first <paramref name="lanes"/> maxima and their indices to y and indices (a whole vector when all 8 are outputs).</summary>
    private static unsafe void StoreLanes(Vector256<float> best, Vector256<float> at, float* y, float* indices, int lanes)
    {
        if (lanes == Lanes)
        {
            best.Store(y);
            at.Store(indices);
            return;
        }
        if (Avx.IsSupported)
        {
            var mask = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(lanes)).AsSingle();
            Avx.MaskStore(y, mask, best);
            Avx.MaskStore(indices, mask, at);
            return;
        }
        for (int l = 0; l < lanes; l++)
        {
            y[l] = best.GetElement(l);
            indices[l] = at.GetElement(l);
        }
    }

    /// <summary>
    /// 2x2 windows at stride 2, no padding, dilation 1, every window inside the input (VGG's and LeNet's pools), with
    /// AVX-512 (<see cref="GemmKernels.Use512"/>; else the 8-lane gathers or the scalar loop).
    /// </summary>
    private static bool UsePairMaxPool(in Pool2dGeometry g) =>
        GemmKernels.Use512 && !g.IsAdaptive && !ForceScalarMaxPool && g.Kernel == new Size2(2, 2) && g.Stride == new Size2(2, 2)
        && g.Dilation == new Size2(1, 1) && g.Padding == default && 2 * g.OutHeight <= g.InHeight && 2 * g.OutWidth <= g.InWidth
        && (long)g.InHeight * g.InWidth < 1 << 24;

    /// <summary>
    /// Max pooling of a run of <paramref name="planes"/> planes (one call per run: LeNet's 10 x 10 planes are too small
    /// to pay a call each) with 2x2 windows at stride 2 (see <see cref="UsePairMaxPool"/>), 8 outputs of a row at a
    /// time: 16 floats of input rows 2p and 2p+1 are split into even and odd columns, giving the taps (0,0), (0,1),
    /// (1,0), (1,1) of 8 windows; each later tap is taken where it is greater or NaN, the scalar rule tap for tap, so
    /// values and indices are the scalar loop's bits. A row's last partial group is a masked load and store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxPoolPairsPlanes(in Pool2dGeometry g, int planes, float* src, float* y, float* indices)
    {
        Wide512Meter.Enter();
        int W = g.InWidth, P = g.OutHeight, Q = g.OutWidth;
        nint hw = (nint)g.InHeight * W, pq = (nint)P * Q;
        var evenThenOdd = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        var laneColumns = Vector256.Create(0f, 2f, 4f, 6f, 8f, 10f, 12f, 14f);
        var nextColumn = Vector256.Create(1f);
        var nextRow = Vector256.Create((float)W);
        for (int plane = 0; plane < planes; plane++, src += hw, y += pq, indices += pq)
        for (int p = 0; p < P; p++)
        {
            float* rowA = src + (nint)2 * p * W, rowB = rowA + W;
            for (int q = 0; q < Q; q += Lanes)
            {
                int lanes = Math.Min(Lanes, Q - q);
                // a row's last partial group: a masked load (lanes past the group read as 0, never touched in memory)
                var read = FirstLanes(2 * lanes);
                var top = Avx512F.MaskLoad(rowA + 2 * q, read, Vector512<float>.Zero);
                var bottom = Avx512F.MaskLoad(rowB + 2 * q, read, Vector512<float>.Zero);
                var rowTop = Avx512F.PermuteVar16x32(top, evenThenOdd);
                var rowBottom = Avx512F.PermuteVar16x32(bottom, evenThenOdd);
                var first = Vector256.Create((float)(2 * p * W + 2 * q)) + laneColumns;
                var best = rowTop.GetLower();
                var at = first;
                Take(rowTop.GetUpper(), first + nextColumn, ref best, ref at);
                Take(rowBottom.GetLower(), first + nextRow, ref best, ref at);
                Take(rowBottom.GetUpper(), first + nextRow + nextColumn, ref best, ref at);
                int o = p * Q + q;
                StoreLanes(best, at, y + o, indices + o, lanes);
            }
        }
    }

    /// <summary>
    /// <see cref="MaxPool2dBackward"/> for a run of <paramref name="planes"/> planes with 2x2 windows at stride 2 (see <see cref="UsePairMaxPool"/>; they never
    /// overlap): each input pixel (h, w) is written once, 0 + dY[o] where its window o = (h/2)*Q + w/2 has its index
    /// at h*W + w and 0 elsewhere (the bits of clearing and adding), 16 pixels of a row at a time: the 8 windows under
    /// them are one masked load of dY and of the indices, each lane doubled. Pixels no window covers (the last row
    /// or column of an odd size) are 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxPoolPairsBackwardPlanes(in Pool2dGeometry g, int planes, float* dY, float* indices, float* dX)
    {
        Wide512Meter.Enter();
        int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth;
        nint hw = (nint)H * W, pq = (nint)P * Q;
        var doubled = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        var laneColumns = Vector512.Create(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f, 14f, 15f);
        for (int plane = 0; plane < planes; plane++, dY += pq, indices += pq, dX += hw)
        for (int h = 0; h < H; h++)
        {
            float* row = dX + (nint)h * W;
            int p = h / 2;
            if (p >= P)
            {
                PanelCopy.Zero(row, W);
                continue;
            }
            for (int w0 = 0; w0 < W; w0 += 2 * Lanes)
            {
                int q0 = w0 / 2, windows = Math.Min(Lanes, Q - q0), o = p * Q + q0;
                var columns = Vector512.Create((float)w0) + laneColumns;
                var result = Vector512<float>.Zero;
                if (windows > 0)
                {
                    var loaded = FirstLanes(windows);
                    var d = Avx512F.PermuteVar16x32(Avx512F.MaskLoad(dY + o, loaded, Vector512<float>.Zero), doubled) + Vector512<float>.Zero;
                    var at = Avx512F.PermuteVar16x32(Avx512F.MaskLoad(indices + o, loaded, Vector512<float>.Zero), doubled);
                    var hit = Vector512.Equals(at, Vector512.Create((float)(h * W)) + columns)
                        & Vector512.LessThan(columns, Vector512.Create((float)(2 * Q)));
                    result = Vector512.ConditionalSelect(hit, d, Vector512<float>.Zero);
                }
                Avx512F.MaskStore(row + w0, FirstLanes(Math.Min(2 * Lanes, W - w0)), result);
            }
        }
    }

    /// <summary>A mask of the first <paramref name="count"/> of 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> FirstLanes(int count) =>
        Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>best, at = v, index where v &gt; best or v is NaN (a later tap of the window).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(Vector256<float> v, Vector256<float> index, ref Vector256<float> best, ref Vector256<float> at)
    {
        var take = Vector256.GreaterThan(v, best) | ~Vector256.Equals(v, v);
        best = Vector256.ConditionalSelect(take, v, best);
        at = Vector256.ConditionalSelect(take, index, at);
    }
}
