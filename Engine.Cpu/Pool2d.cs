namespace Engine.Cpu;

// Legend: N batch, C channels, H x W input plane, P x Q output plane; one parallel chunk per plane.
public sealed partial class CpuBackend
{
    /// <summary>
    /// y = max over each window (taps outside the input are skipped, so padding never wins); the index is the flat
    /// h*W + w of the first maximum in row-major window order; a NaN wins (the last one), as in PyTorch. Fixed
    /// windows run 16 outputs of a row at a time from row loads where the column stride is 1 or 2
    /// (<see cref="MaxPoolPlaneRows"/>), else 8 outputs at a time with masked gathers (<see cref="MaxPoolPlaneVector"/>), same bits.
    /// </summary>
    public void MaxPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer y, DeviceBuffer indices)
    {
        var geo = g;
        if (UsePairMaxPool(geo))
        {
            // a run of planes per call: the planes of small maps (LeNet's 10 x 10) are too short to pay a call each
            ForPlaneRuns(geo, (geo, Array(x), Array(y), Array(indices)), static (s, first, count) =>
            {
                var (geo, xa, ya, ia) = s;
                int hw = geo.InHeight * geo.InWidth, pq = geo.OutHeight * geo.OutWidth;
                unsafe
                {
                    fixed (float* px = xa, py = ya, pi = ia)
                        MaxPoolPairsPlanes(geo, count, px + (nint)first * hw, py + (nint)first * pq, pi + (nint)first * pq);
                }
            });
            return;
        }
        var path = UseRowMaxPool(geo) ? MaxPoolPath.Rows : UseVectorMaxPool(geo) ? MaxPoolPath.Vector : MaxPoolPath.Scalar;
        ForPlanes(geo, (geo, Array(x), Array(y), Array(indices), path), static (s, plane) =>
        {
            var (geo, xa, ya, ia, path) = s;
            int hw = geo.InHeight * geo.InWidth, pq = geo.OutHeight * geo.OutWidth;
            unsafe
            {
                fixed (float* px = xa, py = ya, pi = ia)
                {
                    float* src = px + (nint)plane * hw, yPlane = py + (nint)plane * pq, iPlane = pi + (nint)plane * pq;
                    switch (path)
                    {
                        case MaxPoolPath.Rows: MaxPoolPlaneRows(geo, src, yPlane, iPlane); break;
                        case MaxPoolPath.Vector: MaxPoolPlaneVector(geo, src, yPlane, iPlane); break;
                        default: MaxPoolPlaneScalar(geo, src, yPlane, iPlane); break;
                    }
                }
            }
        });
    }

    /// <summary>Which plane kernel <see cref="MaxPool2d"/> runs (all give the scalar loop's bits).</summary>
    private enum MaxPoolPath { Rows, Vector, Scalar }

    /// <summary>One H x W plane to its P x Q maxima and indices, one window at a time: the rule the fast kernels follow.</summary>
    private static unsafe void MaxPoolPlaneScalar(in Pool2dGeometry geo, float* src, float* y, float* indices)
    {
        int W = geo.InWidth, H = geo.InHeight, Q = geo.OutWidth;
        for (int p = 0, o = 0; p < geo.OutHeight; p++)
        {
            var (h0, kh, dh) = geo.RowWindow(p);
            for (int q = 0; q < Q; q++, o++)
            {
                var (w0, kw, dw) = geo.ColWindow(q);
                float best = float.NegativeInfinity;
                int at = -1;
                for (int i = 0; i < kh; i++)
                {
                    int h = h0 + i * dh;
                    if ((uint)h >= (uint)H) continue;
                    for (int j = 0; j < kw; j++)
                    {
                        int w = w0 + j * dw;
                        if ((uint)w >= (uint)W) continue;
                        float v = src[h * W + w];
                        if (at < 0 || v > best || float.IsNaN(v))
                        {
                            best = v;
                            at = h * W + w;
                        }
                    }
                }
                y[o] = best;
                indices[o] = at;
            }
        }
    }

    /// <summary>dX[index] += dY for each output (windows may overlap, so a pixel can collect several).</summary>
    public void MaxPool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer indices, DeviceBuffer dX)
    {
        var geo = g;
        var dya = Array(dY);
        var ia = Array(indices);
        var dxa = Array(dX);
        int HW = geo.InHeight * geo.InWidth, PQ = geo.OutHeight * geo.OutWidth;
        if (UsePairMaxPool(geo))
        {
            ForPlaneRuns(geo, (geo, dya, ia, dxa, HW, PQ), static (s, first, count) =>
            {
                var (geo, dya, ia, dxa, HW, PQ) = s;
                unsafe
                {
                    fixed (float* pdy = dya, pi = ia, pdx = dxa)
                        MaxPoolPairsBackwardPlanes(geo, count, pdy + (nint)first * PQ, pi + (nint)first * PQ, pdx + (nint)first * HW);
                }
            });
            return;
        }
        ForPlanes(geo, (dya, ia, dxa, HW, PQ), static (s, plane) =>
        {
            var (dya, ia, dxa, HW, PQ) = s;
            var dst = dxa.AsSpan(plane * HW, HW);
            dst.Clear();
            for (int o = plane * PQ; o < (plane + 1) * PQ; o++)
            {
                int at = (int)ia[o];
                if (at >= 0) dst[at] += dya[o];
            }
        });
    }

    /// <summary>
    /// Runs body(state, plane) for the N*C planes of g's input, a chunk of whole planes per work item (about
    /// <see cref="ElementChunk"/> input elements, a fixed count, so small planes do not cost a hand-off each).
    /// </summary>
    private void ForPlanes<TState>(in Pool2dGeometry g, TState state, Action<TState, int> body) =>
        ForPlaneRuns(g, (state, body), static (s, first, count) =>
        {
            for (int plane = first; plane < first + count; plane++) s.body(s.state, plane);
        });

    /// <summary>Runs body(state, first, count) for runs of whole planes, the same chunks as <see cref="ForPlanes"/>.</summary>
    private void ForPlaneRuns<TState>(in Pool2dGeometry g, TState state, Action<TState, int, int> body)
    {
        int planes = g.Batch * g.Channels;
        int planeSize = Math.Max(g.InHeight * g.InWidth, g.OutHeight * g.OutWidth);
        int perChunk = Math.Max(1, ElementChunk / Math.Max(planeSize, 1));
        _workers.For((planes + perChunk - 1) / perChunk, (state, body, planes, perChunk), static (s, chunk) =>
        {
            int first = chunk * s.perChunk;
            s.body(s.state, first, Math.Min(s.planes, first + s.perChunk) - first);
        });
    }

    /// <summary>Every window is the one pixel under it with divisor 1 (adaptive pooling to the input's size, or 1x1 stride 1).</summary>
    private static bool IsIdentityAvgPool(in Pool2dGeometry g) =>
        g.OutHeight == g.InHeight && g.OutWidth == g.InWidth && (g.IsAdaptive ||
            g.Kernel == new Size2(1, 1) && g.Stride == new Size2(1, 1) && g.Padding == default && g.DivisorOverride is 0 or 1);

    /// <summary>y = sum over the window's in-input taps / divisor (see <see cref="Pool2dGeometry.AvgDivisor"/>); a copy when every window is its own pixel.</summary>
    public void AvgPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        var geo = g;
        var xa = Array(x);
        var ya = Array(y);
        if (IsIdentityAvgPool(geo))
        {
            int total = geo.InputShape.Size;
            ForRange(total, (xa, ya), static (s, start, length) => s.xa.AsSpan(start, length).CopyTo(s.ya.AsSpan(start, length)));
            return;
        }
        int H = geo.InHeight, W = geo.InWidth, P = geo.OutHeight, Q = geo.OutWidth;
        ForPlanes(geo, (geo, xa, ya, H, W, P, Q), static (s, plane) =>
        {
            var (geo, xa, ya, H, W, P, Q) = s;
            var src = xa.AsSpan(plane * H * W, H * W);
            int o = plane * P * Q;
            for (int p = 0; p < P; p++)
            {
                var (h0, kh, _) = geo.RowWindow(p);
                int hs = Math.Max(h0, 0), he = Math.Min(h0 + kh, H);
                for (int q = 0; q < Q; q++, o++)
                {
                    var (w0, kw, _) = geo.ColWindow(q);
                    int ws = Math.Max(w0, 0), we = Math.Min(w0 + kw, W);
                    float sum = 0f;
                    for (int h = hs; h < he; h++)
                        for (int w = ws; w < we; w++) sum += src[h * W + w];
                    ya[o] = sum / geo.AvgDivisor(p, q);
                }
            }
        });
    }

    /// <summary>dX[h, w] += dY / divisor for every window containing (h, w); a copy when every window is its own pixel.</summary>
    public void AvgPool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer dX)
    {
        var geo = g;
        var dya = Array(dY);
        var dxa = Array(dX);
        if (IsIdentityAvgPool(geo))
        {
            int total = geo.InputShape.Size;
            ForRange(total, (dya, dxa), static (s, start, length) => s.dya.AsSpan(start, length).CopyTo(s.dxa.AsSpan(start, length)));
            return;
        }
        int H = geo.InHeight, W = geo.InWidth, P = geo.OutHeight, Q = geo.OutWidth;
        ForPlanes(geo, (geo, dya, dxa, H, W, P, Q), static (s, plane) =>
        {
            var (geo, dya, dxa, H, W, P, Q) = s;
            var dst = dxa.AsSpan(plane * H * W, H * W);
            dst.Clear();
            int o = plane * P * Q;
            for (int p = 0; p < P; p++)
            {
                var (h0, kh, _) = geo.RowWindow(p);
                int hs = Math.Max(h0, 0), he = Math.Min(h0 + kh, H);
                for (int q = 0; q < Q; q++, o++)
                {
                    var (w0, kw, _) = geo.ColWindow(q);
                    int ws = Math.Max(w0, 0), we = Math.Min(w0 + kw, W);
                    float share = dya[o] / geo.AvgDivisor(p, q);
                    for (int h = hs; h < he; h++)
                        for (int w = ws; w < we; w++) dst[h * W + w] += share;
                }
            }
        });
    }
}

public sealed partial class CpuBackend
{
    /// <summary>y (unpooled planes) = 0, then y[indices[o]] = x[o] in row-major order of o (the last write wins).</summary>
    public void MaxUnpool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer indices, DeviceBuffer y)
    {
        var geo = g;
        var xa = Array(x);
        var ia = Array(indices);
        var ya = Array(y);
        int HW = geo.InHeight * geo.InWidth, PQ = geo.OutHeight * geo.OutWidth;
        ForPlanes(geo, (xa, ia, ya, HW, PQ), static (s, plane) =>
        {
            var (xa, ia, ya, HW, PQ) = s;
            var dst = ya.AsSpan(plane * HW, HW);
            dst.Clear();
            for (int o = plane * PQ; o < (plane + 1) * PQ; o++) dst[(int)ia[o]] = xa[o];
        });
    }

    /// <summary>dX[o] = dY[indices[o]].</summary>
    public void MaxUnpool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer indices, DeviceBuffer dX)
    {
        var geo = g;
        var dya = Array(dY);
        var ia = Array(indices);
        var dxa = Array(dX);
        int HW = geo.InHeight * geo.InWidth, PQ = geo.OutHeight * geo.OutWidth;
        ForPlanes(geo, (dya, ia, dxa, HW, PQ), static (s, plane) =>
        {
            var (dya, ia, dxa, HW, PQ) = s;
            for (int o = plane * PQ; o < (plane + 1) * PQ; o++) dxa[o] = dya[plane * HW + (int)ia[o]];
        });
    }
}

public sealed partial class CpuBackend
{
    /// <summary>y = max over the kernel window placed at this plane's (row, col) starts; first maximum wins, NaN wins.</summary>
    public void FractionalMaxPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer rowStarts, DeviceBuffer colStarts, DeviceBuffer y, DeviceBuffer indices)
    {
        var geo = g;
        var xa = Array(x);
        var ra = Array(rowStarts);
        var ca = Array(colStarts);
        var ya = Array(y);
        var ia = Array(indices);
        int H = geo.InHeight, W = geo.InWidth, P = geo.OutHeight, Q = geo.OutWidth, kh = geo.Kernel.Height, kw = geo.Kernel.Width;
        ForPlanes(geo, (xa, ra, ca, ya, ia, H, W, P, Q, kh, kw), static (s, plane) =>
        {
            var (xa, ra, ca, ya, ia, H, W, P, Q, kh, kw) = s;
            var src = xa.AsSpan(plane * H * W, H * W);
            for (int p = 0; p < P; p++)
            {
                int h0 = (int)ra[plane * P + p];
                for (int q = 0; q < Q; q++)
                {
                    int w0 = (int)ca[plane * Q + q], at = h0 * W + w0, o = (plane * P + p) * Q + q;
                    float best = src[at];
                    for (int i = 0; i < kh; i++)
                        for (int j = 0; j < kw; j++)
                        {
                            float v = src[(h0 + i) * W + w0 + j];
                            if (v > best || float.IsNaN(v) && !float.IsNaN(best))
                            {
                                best = v;
                                at = (h0 + i) * W + w0 + j;
                            }
                        }
                    ya[o] = best;
                    ia[o] = at;
                }
            }
        });
    }
}
