using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// The row helpers of BatchNorm.cs 8 lanes wide, for CPUs without 512-bit vectors (GemmKernels.Use512 false): the sums
// fold 8 lane sums by Vector256.Sum, then the tail; the affine map rounds each element as the 16-lane one does.
public sealed partial class CpuBackend
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSum256(float* row, int length)
    {
        var lanes = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= length; i += 8) lanes += Vector256.Load(row + i);
        float sum = Vector256.Sum(lanes);
        for (; i < length; i++) sum += row[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float RowSquaredDeviations256(float* row, int length, float mean)
    {
        var lanes = Vector256<float>.Zero;
        var m = Vector256.Create(mean);
        int i = 0;
        for (; i + 8 <= length; i += 8)
        {
            var d = Vector256.Load(row + i) - m;
            lanes = Vector256.FusedMultiplyAdd(d, d, lanes);
        }
        float sum = Vector256.Sum(lanes);
        for (; i < length; i++)
        {
            float d = row[i] - mean;
            sum = MathF.FusedMultiplyAdd(d, d, sum);
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float Plain, float Centered) RowGradientSums256(float* x, float* dY, int length, float mean)
    {
        Vector256<float> plain = default, centered = default;
        var m = Vector256.Create(mean);
        int i = 0;
        for (; i + 8 <= length; i += 8)
        {
            var d = Vector256.Load(dY + i);
            plain += d;
            centered = Vector256.FusedMultiplyAdd(d, Vector256.Load(x + i) - m, centered);
        }
        float plainSum = Vector256.Sum(plain), centeredSum = Vector256.Sum(centered);
        for (; i < length; i++)
        {
            plainSum += dY[i];
            centeredSum = MathF.FusedMultiplyAdd(dY[i], x[i] - mean, centeredSum);
        }
        return (plainSum, centeredSum);
    }

    /// <summary>y[i] = fma(x[i] - center, scale, z is null ? shift : fma(z[i], zScale, shift)), 8 lanes at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AffineRow256(float* x, float* z, float* y, int length, float center, float scale, float zScale, float shift)
    {
        Vector256<float> vc = Vector256.Create(center), vs = Vector256.Create(scale), vz = Vector256.Create(zScale), vh = Vector256.Create(shift);
        int i = 0;
        if (z is null)
        {
            for (; i + 8 <= length; i += 8) Vector256.FusedMultiplyAdd(Vector256.Load(x + i) - vc, vs, vh).Store(y + i);
            for (; i < length; i++) y[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, shift);
            return;
        }
        for (; i + 8 <= length; i += 8)
            Vector256.FusedMultiplyAdd(Vector256.Load(x + i) - vc, vs, Vector256.FusedMultiplyAdd(Vector256.Load(z + i), vz, vh)).Store(y + i);
        for (; i < length; i++) y[i] = MathF.FusedMultiplyAdd(x[i] - center, scale, MathF.FusedMultiplyAdd(z[i], zScale, shift));
    }
}
