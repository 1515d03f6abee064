using System.Runtime.CompilerServices;

namespace Engine.Cpu;

// Legend: x viewed as N x C x I (I = Inner, H*W for images); row (n, c) is the I values x[(n*C + c)*I ..];
// M = N*I values per channel. One work item per channel for the sums (each channel's order of additions is fixed:
// rows in n order, each row as 16 lane sums folded by Vector512.Sum, then its tail), fixed row chunks for the map.
// Without GemmKernels.Use512 the rows run 8 lanes wide (the same generic row helpers on Lanes256): the map has the
// same bits, the sums another order of additions.
public sealed partial class CpuBackend
{
    /// <summary>mean = sum / M, then variance = sum of squared deviations from it / M (two passes, biased).</summary>
    public void ChannelStatistics(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer mean, DeviceBuffer variance)
    {
        var geo = g;
        var xa = Array(x);
        var ma = Array(mean);
        var va = Array(variance);
        _workers.For(geo.Channels, (geo, xa, ma, va), static (s, c) =>
        {
            var (geo, xa, ma, va) = s;
            unsafe
            {
                fixed (float* px = xa)
                {
                    float sum = 0f;
                    for (int n = 0; n < geo.Batch; n++) sum += RowSum(px + ((nint)n * geo.Channels + c) * geo.Inner, geo.Inner);
                    float m = sum / geo.Count;
                    float squares = 0f;
                    for (int n = 0; n < geo.Batch; n++) squares += RowSquaredDeviations(px + ((nint)n * geo.Channels + c) * geo.Inner, geo.Inner, m);
                    ma[c] = m;
                    va[c] = squares / geo.Count;
                }
            }
        });
    }

    /// <summary>sumDY = sum of dY, sumDYCentered = sum of dY * (x - mean) per channel, in the order of <see cref="ChannelStatistics"/>.</summary>
    public void ChannelGradientSums(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer mean, DeviceBuffer sumDY, DeviceBuffer sumDYCentered)
    {
        var geo = g;
        var xa = Array(x);
        var dya = Array(dY);
        var ma = Array(mean);
        var sa = Array(sumDY);
        var da = Array(sumDYCentered);
        _workers.For(geo.Channels, (geo, xa, dya, ma, sa, da), static (s, c) =>
        {
            var (geo, xa, dya, ma, sa, da) = s;
            unsafe
            {
                fixed (float* px = xa, pdy = dya)
                {
                    float plain = 0f, centered = 0f, m = ma[c];
                    for (int n = 0; n < geo.Batch; n++)
                    {
                        nint row = ((nint)n * geo.Channels + c) * geo.Inner;
                        var (rowPlain, rowCentered) = RowGradientSums(px + row, pdy + row, geo.Inner, m);
                        plain += rowPlain;
                        centered += rowCentered;
                    }
                    sa[c] = plain;
                    da[c] = centered;
                }
            }
        });
    }

    /// <summary>y = fma(x - xCenter, xScale, fma(z, zScale, shift) or shift) per channel, in fixed chunks of whole rows.</summary>
    public void ChannelAffine(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer xCenter, DeviceBuffer xScale, DeviceBuffer? z, DeviceBuffer? zScale, DeviceBuffer shift, DeviceBuffer y)
    {
        var geo = g;
        var xa = Array(x);
        var ca = Array(xCenter);
        var sa = Array(xScale);
        var za = z is null ? null : Array(z);
        var zsa = zScale is null ? null : Array(zScale);
        var ha = Array(shift);
        var ya = Array(y);
        int rows = geo.Batch * geo.Channels, rowsPerChunk = Math.Max(1, ElementChunk / geo.Inner);
        _workers.For((rows + rowsPerChunk - 1) / rowsPerChunk, (geo, xa, ca, sa, za, zsa, ha, ya, rows, rowsPerChunk), static (s, chunk) =>
        {
            var (geo, xa, ca, sa, za, zsa, ha, ya, rows, rowsPerChunk) = s;
            unsafe
            {
                fixed (float* px = xa, pz = za, py = ya)
                {
                    for (int r = chunk * rowsPerChunk; r < Math.Min(rows, (chunk + 1) * rowsPerChunk); r++)
                    {
                        int c = r % geo.Channels;
                        nint at = (nint)r * geo.Inner;
                        AffineRow(px + at, pz is null ? null : pz + at, py + at, geo.Inner, ca[c], sa[c], zsa is null ? 0f : zsa[c], ha[c]);
                    }
                }
            }
        });
    }

    // The row helpers at the width of the machine (16 lanes with GemmKernels.Use512, else 8), each written once below.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSum(float* row, int length) =>
        GemmKernels.Use512 ? RowSum<Lanes512>(row, length) : RowSum<Lanes256>(row, length);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSquaredDeviations(float* row, int length, float mean) =>
        GemmKernels.Use512 ? RowSquaredDeviations<Lanes512>(row, length, mean) : RowSquaredDeviations<Lanes256>(row, length, mean);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float Plain, float Centered) RowGradientSums(float* x, float* dY, int length, float mean) =>
        GemmKernels.Use512 ? RowGradientSums<Lanes512>(x, dY, length, mean) : RowGradientSums<Lanes256>(x, dY, length, mean);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AffineRow(float* x, float* z, float* y, int length, float center, float scale, float zScale, float shift)
    {
        if (GemmKernels.Use512) AffineRow<Lanes512>(x, z, y, length, center, scale, zScale, shift);
        else AffineRow<Lanes256>(x, z, y, length, center, scale, zScale, shift);
    }

    /// <summary>The sum of row[0, length): TLanes.Count lane sums folded by <see cref="ILanes{TSelf}.Sum"/>, then the tail in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSum<TLanes>(float* row, int length) where TLanes : struct, ILanes<TLanes>
    {
        if (TLanes.Is512) Wide512Meter.Enter();
        TLanes lanes = default;
        int i = 0;
        for (; i + TLanes.Count <= length; i += TLanes.Count) lanes += TLanes.Load(row + i);
        float sum = lanes.Sum();
        for (; i < length; i++) sum += row[i];
        return sum;
    }

    /// <summary>The sum of (row[i] - mean)^2 in the order of <see cref="RowSum{TLanes}"/>, each square added by a fused multiply-add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSquaredDeviations<TLanes>(float* row, int length, float mean) where TLanes : struct, ILanes<TLanes>
    {
        if (TLanes.Is512) Wide512Meter.Enter();
        TLanes lanes = default;
        var m = TLanes.Create(mean);
        int i = 0;
        for (; i + TLanes.Count <= length; i += TLanes.Count)
        {
            var d = TLanes.Load(row + i) - m;
            lanes = TLanes.FusedMultiplyAdd(d, d, lanes);
        }
        float sum = lanes.Sum();
        for (; i < length; i++)
        {
            float d = row[i] - mean;
            sum = MathF.FusedMultiplyAdd(d, d, sum);
        }
        return sum;
    }

    /// <summary>The sums of dY[i] and of dY[i] * (x[i] - mean) in the order of <see cref="RowSum{TLanes}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float Plain, float Centered) RowGradientSums<TLanes>(float* x, float* dY, int length, float mean) where TLanes : struct, ILanes<TLanes>
    {
        if (TLanes.Is512) Wide512Meter.Enter();
        TLanes plain = default, centered = default;
        var m = TLanes.Create(mean);
        int i = 0;
        for (; i + TLanes.Count <= length; i += TLanes.Count)
        {
            var d = TLanes.Load(dY + i);
            plain += d;
            centered = TLanes.FusedMultiplyAdd(d, TLanes.Load(x + i) - m, centered);
        }
        float plainSum = plain.Sum(), centeredSum = centered.Sum();
        for (; i < length; i++)
        {
            plainSum += dY[i];
            centeredSum = MathF.FusedMultiplyAdd(dY[i], x[i] - mean, centeredSum);
        }
        return (plainSum, centeredSum);
    }

    /// <summary>y[i] = fma(x[i] - center, scale, z is null ? shift : fma(z[i], zScale, shift)); lanes and tail round alike at both widths.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AffineRow<TLanes>(float* x, float* z, float* y, int length, float center, float scale, float zScale, float shift)
        where TLanes : struct, ILanes<TLanes>
    {
        if (TLanes.Is512) Wide512Meter.Enter();
        TLanes vc = TLanes.Create(center), vs = TLanes.Create(scale), vz = TLanes.Create(zScale), vh = TLanes.Create(shift);
        int i = 0;
        if (z is null)
        {
            for (; i + TLanes.Count <= length; i += TLanes.Count) TLanes.FusedMultiplyAdd(TLanes.Load(x + i) - vc, vs, vh).Store(y + i);
            for (; i < length; i++) y[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, shift);
            return;
        }
        for (; i + TLanes.Count <= length; i += TLanes.Count)
            TLanes.FusedMultiplyAdd(TLanes.Load(x + i) - vc, vs, TLanes.FusedMultiplyAdd(TLanes.Load(z + i), vz, vh)).Store(y + i);
        for (; i < length; i++) y[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, MathF.FusedMultiplyAdd(z[i], zScale, shift));
    }
}
