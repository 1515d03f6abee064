using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// Legend: x viewed as N x C x I (I = Inner, H*W for images); row (n, c) is the I values x[(n*C + c)*I ..];
// M = N*I values per channel. One work item per channel for the sums (each channel's order of additions is fixed:
// rows in n order, each row as 16 lane sums folded by Vector512.Sum, then its tail), fixed row chunks for the map.
// Without GemmKernels.Use512 the rows run 8 lanes wide (BatchNormNarrow.cs): the map has the same bits, the sums
// another order of additions.
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSum(float* row, int length)
    {
        if (!GemmKernels.Use512) return RowSum256(row, length);
        Wide512Meter.Enter();
        var lanes = Vector512<float>.Zero;
        int i = 0;
        for (; i + 16 <= length; i += 16) lanes += Vector512.Load(row + i);
        float sum = Vector512.Sum(lanes);
        for (; i < length; i++) sum += row[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSquaredDeviations(float* row, int length, float mean)
    {
        if (!GemmKernels.Use512) return RowSquaredDeviations256(row, length, mean);
        Wide512Meter.Enter();
        var lanes = Vector512<float>.Zero;
        var m = Vector512.Create(mean);
        int i = 0;
        for (; i + 16 <= length; i += 16)
        {
            var d = Vector512.Load(row + i) - m;
            lanes = Vector512.FusedMultiplyAdd(d, d, lanes);
        }
        float sum = Vector512.Sum(lanes);
        for (; i < length; i++)
        {
            float d = row[i] - mean;
            sum = MathF.FusedMultiplyAdd(d, d, sum);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float Plain, float Centered) RowGradientSums(float* x, float* dY, int length, float mean)
    {
        if (!GemmKernels.Use512) return RowGradientSums256(x, dY, length, mean);
        Wide512Meter.Enter();
        Vector512<float> plain = default, centered = default;
        var m = Vector512.Create(mean);
        int i = 0;
        for (; i + 16 <= length; i += 16)
        {
            var d = Vector512.Load(dY + i);
            plain += d;
            centered = Vector512.FusedMultiplyAdd(d, Vector512.Load(x + i) - m, centered);
        }
        float plainSum = Vector512.Sum(plain), centeredSum = Vector512.Sum(centered);
        for (; i < length; i++)
        {
            plainSum += dY[i];
            centeredSum = MathF.FusedMultiplyAdd(dY[i], x[i] - mean, centeredSum);
        }
        return (plainSum, centeredSum);
    }

    /// <summary>y[i] = fma(x[i] - center, scale, z is null ? shift : fma(z[i], zScale, shift)); lanes and tail round alike.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AffineRow(float* x, float* z, float* y, int length, float center, float scale, float zScale, float shift)
    {
        if (!GemmKernels.Use512)
        {
            AffineRow256(x, z, y, length, center, scale, zScale, shift);
            return;
        }
        Wide512Meter.Enter();
        Vector512<float> vc = Vector512.Create(center), vs = Vector512.Create(scale), vz = Vector512.Create(zScale), vh = Vector512.Create(shift);
        int i = 0;
        if (z is null)
        {
            for (; i + 16 <= length; i += 16) Vector512.FusedMultiplyAdd(Vector512.Load(x + i) - vc, vs, vh).Store(y + i);
            for (; i < length; i++) y[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, shift);
            return;
        }
        for (; i + 16 <= length; i += 16)
            Vector512.FusedMultiplyAdd(Vector512.Load(x + i) - vc, vs, Vector512.FusedMultiplyAdd(Vector512.Load(z + i), vz, vh)).Store(y + i);
        for (; i < length; i++) y[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, MathF.FusedMultiplyAdd(z[i], zScale, shift));
    }
}
