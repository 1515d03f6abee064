using System.Buffers;
using System.Numerics.Tensors;

namespace Engine.Cpu;

// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output,
// Cg = C/G, Kg = K/G, CRS = Cg*R*S (rows of the column matrix), PQ = P*Q (its columns).
public sealed partial class CpuBackend
{
    /// <summary>
    /// Forward: per image and group, columns (CRS x PQ) = im2col(x), then
    /// y_g (Kg x PQ) = W_g (Kg x CRS) * columns (CRS x PQ), plus bias. Images are the parallel chunks;
    /// a 1x1, stride-1, unpadded convolution uses x itself as the column matrix.
    /// </summary>
    public void Conv2d(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        var geo = g;
        var xa = Array(x);
        var wa = Array(w);
        var ba = bias is null ? null : Array(bias);
        var ya = Array(y);
        int cg = geo.InChannelsPerGroup, kg = geo.OutChannelsPerGroup, hw = geo.InHeight * geo.InWidth;
        int pq = geo.OutHeight * geo.OutWidth, crs = cg * geo.Kernel.Height * geo.Kernel.Width;
        bool direct = IsPointwise(geo);
        ForEachImage(geo.Batch, (n, columns) =>
        {
            for (int grp = 0; grp < geo.Groups; grp++)
            {
                var xg = xa.AsSpan((n * geo.InChannels + grp * cg) * hw, cg * hw);
                ReadOnlySpan<float> cols = direct ? xg : Im2Col(geo, xg, columns.AsSpan(0, crs * pq));
                var yg = ya.AsSpan((n * geo.OutChannels + grp * kg) * pq, kg * pq);
                // y_g (Kg x PQ) = W_g (Kg x CRS) * columns (CRS x PQ)
                GemmSerial(false, false, kg, pq, crs, 1f, wa.AsSpan(grp * kg * crs, kg * crs), cols, 0f, yg);
                if (ba is not null)
                    for (int k = 0; k < kg; k++) TensorPrimitives.Add(yg.Slice(k * pq, pq), ba[grp * kg + k], yg.Slice(k * pq, pq));
            }
        }, direct ? 0 : crs * pq);
    }

    /// <summary>
    /// Backward data: per image and group, dColumns (CRS x PQ) = W_g^T (CRS x Kg) * dY_g (Kg x PQ), then
    /// dX = col2im(dColumns), which adds every column entry back onto the input pixel it was read from.
    /// </summary>
    public void Conv2dBackwardData(in Conv2dGeometry g, DeviceBuffer dY, DeviceBuffer w, DeviceBuffer dX)
    {
        var geo = g;
        var dya = Array(dY);
        var wa = Array(w);
        var dxa = Array(dX);
        int cg = geo.InChannelsPerGroup, kg = geo.OutChannelsPerGroup, hw = geo.InHeight * geo.InWidth;
        int pq = geo.OutHeight * geo.OutWidth, crs = cg * geo.Kernel.Height * geo.Kernel.Width;
        bool direct = IsPointwise(geo);
        ForEachImage(geo.Batch, (n, columns) =>
        {
            for (int grp = 0; grp < geo.Groups; grp++)
            {
                var dxg = dxa.AsSpan((n * geo.InChannels + grp * cg) * hw, cg * hw);
                var dyg = dya.AsSpan((n * geo.OutChannels + grp * kg) * pq, kg * pq);
                var dCols = direct ? dxg : columns.AsSpan(0, crs * pq);
                // dColumns (CRS x PQ) = W_g^T (CRS x Kg) * dY_g (Kg x PQ)
                GemmSerial(true, false, crs, pq, kg, 1f, wa.AsSpan(grp * kg * crs, kg * crs), dyg, 0f, dCols);
                if (!direct) Col2Im(geo, dCols, dxg);
            }
        }, direct ? 0 : crs * pq);
    }

    /// <summary>
    /// Backward weight: dW_g (Kg x CRS) = sum over images of dY_g (Kg x PQ) * columns^T (PQ x CRS);
    /// dBias[k] = sum of dY over images and pixels. Images are split into at most 8 fixed chunks, each summing
    /// its own partial dW; partials are added in chunk order, so the bits never depend on the thread count.
    /// </summary>
    public void Conv2dBackwardWeight(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dW, DeviceBuffer? dBias)
    {
        var geo = g;
        var xa = Array(x);
        var dya = Array(dY);
        var dwa = Array(dW);
        int cg = geo.InChannelsPerGroup, kg = geo.OutChannelsPerGroup, hw = geo.InHeight * geo.InWidth;
        int pq = geo.OutHeight * geo.OutWidth, crs = cg * geo.Kernel.Height * geo.Kernel.Width;
        int wSize = geo.OutChannels * crs;
        bool direct = IsPointwise(geo);
        int chunks = Math.Min(geo.Batch, 8);
        var partials = ArrayPool<float>.Shared.Rent(chunks * wSize);
        try
        {
            _workers.For(chunks, chunk =>
            {
                int n0 = chunk * geo.Batch / chunks, n1 = (chunk + 1) * geo.Batch / chunks;
                var partial = partials.AsSpan(chunk * wSize, wSize);
                var columns = direct ? null : ArrayPool<float>.Shared.Rent(crs * pq);
                try
                {
                    for (int n = n0; n < n1; n++)
                        for (int grp = 0; grp < geo.Groups; grp++)
                        {
                            var xg = xa.AsSpan((n * geo.InChannels + grp * cg) * hw, cg * hw);
                            ReadOnlySpan<float> cols = direct ? xg : Im2Col(geo, xg, columns.AsSpan(0, crs * pq));
                            var dyg = dya.AsSpan((n * geo.OutChannels + grp * kg) * pq, kg * pq);
                            // dW_g (Kg x CRS) (+)= dY_g (Kg x PQ) * columns^T (PQ x CRS)
                            GemmSerial(false, true, kg, crs, pq, 1f, dyg, cols, n == n0 ? 0f : 1f, partial.Slice(grp * kg * crs, kg * crs));
                        }
                }
                finally
                {
                    if (columns is not null) ArrayPool<float>.Shared.Return(columns);
                }
            });
            var dw = dwa.AsSpan(0, wSize);
            partials.AsSpan(0, wSize).CopyTo(dw);
            for (int chunk = 1; chunk < chunks; chunk++) TensorPrimitives.Add(dw, partials.AsSpan(chunk * wSize, wSize), dw);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
        if (dBias is not null)
        {
            var db = Array(dBias);
            _workers.For(geo.OutChannels, k =>
            {
                float sum = 0f;
                for (int n = 0; n < geo.Batch; n++) sum += SumOrdered(dya.AsSpan((n * geo.OutChannels + k) * pq, pq));
                db[k] = sum;
            });
        }
    }

    private static bool IsPointwise(in Conv2dGeometry g) =>
        g.Kernel is { Height: 1, Width: 1 } && g.Stride is { Height: 1, Width: 1 } && g.Padding.IsZero;

    /// <summary>Runs body(image, scratch) for every image as its own chunk, with a column buffer of scratchLength floats.</summary>
    private void ForEachImage(int batch, Action<int, float[]> body, int scratchLength)
    {
        _workers.For(batch, n =>
        {
            var scratch = ArrayPool<float>.Shared.Rent(Math.Max(scratchLength, 1));
            try { body(n, scratch); }
            finally { ArrayPool<float>.Shared.Return(scratch); }
        });
    }

    /// <summary>
    /// columns[(c*R + r)*S + s, p*Q + q] = x[c, p*strideH - top + r*dilationH, q*strideW - left + s*dilationW], 0 outside.
    /// </summary>
    internal static Span<float> Im2Col(in Conv2dGeometry g, ReadOnlySpan<float> x, Span<float> columns)
    {
        int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth, R = g.Kernel.Height, S = g.Kernel.Width;
        int row = 0;
        for (int c = 0; c < g.InChannelsPerGroup; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++, row++)
                {
                    var dst = columns.Slice(row * P * Q, P * Q);
                    int dh = r * g.Dilation.Height - g.Padding.Top, dw = s * g.Dilation.Width - g.Padding.Left;
                    for (int p = 0; p < P; p++)
                    {
                        int h = p * g.Stride.Height + dh;
                        var dstRow = dst.Slice(p * Q, Q);
                        if ((uint)h >= (uint)H)
                        {
                            dstRow.Clear();
                            continue;
                        }
                        var src = x.Slice((c * H + h) * W, W);
                        for (int q = 0; q < Q; q++)
                        {
                            int wi = q * g.Stride.Width + dw;
                            dstRow[q] = (uint)wi < (uint)W ? src[wi] : 0f;
                        }
                    }
                }
        return columns;
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: dX (Cg x H x W) = sum of dColumns entries onto their source pixels.</summary>
    internal static void Col2Im(in Conv2dGeometry g, ReadOnlySpan<float> columns, Span<float> dx)
    {
        int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth, R = g.Kernel.Height, S = g.Kernel.Width;
        dx.Clear();
        int row = 0;
        for (int c = 0; c < g.InChannelsPerGroup; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++, row++)
                {
                    var src = columns.Slice(row * P * Q, P * Q);
                    int dh = r * g.Dilation.Height - g.Padding.Top, dw = s * g.Dilation.Width - g.Padding.Left;
                    for (int p = 0; p < P; p++)
                    {
                        int h = p * g.Stride.Height + dh;
                        if ((uint)h >= (uint)H) continue;
                        var dst = dx.Slice((c * H + h) * W, W);
                        for (int q = 0; q < Q; q++)
                        {
                            int wi = q * g.Stride.Width + dw;
                            if ((uint)wi < (uint)W) dst[wi] += src[p * Q + q];
                        }
                    }
                }
    }
}
