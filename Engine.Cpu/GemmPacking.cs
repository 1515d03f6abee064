using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

/// <summary>
/// A GEMM operand seen as a logical matrix L (K x Width): for A, L = alpha * op(A)^T (Width = M); for B, L = op(B)
/// (Width = N). <see cref="Pack"/> copies rows [k0, k0 + kc) and columns [j0, j0 + width) into consecutive
/// micro-panels of <c>panel</c> columns: panel t holds L[k0 + k, j0 + t*panel + jj] at t*kc*panel + k*panel + jj,
/// zero beyond the last column, which is what the micro-kernels read. Transposes and im2col live here, so the
/// driver and the kernels only ever see packed panels.
/// </summary>
internal unsafe interface IPanelSource
{
    void Pack(float* destination, int k0, int kc, int j0, int width, int panel);
}

/// <summary>Copies and zero fills for short runs inside a panel row.</summary>
internal static unsafe class PanelCopy
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Copy(float* destination, float* source, int count)
    {
        int i = 0;
        for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(source + i), destination + i);
        if (i == count) return;
        if (Avx512F.IsSupported)
        {
            // the last 1..15 floats: one masked load and store (masked-off lanes are neither read nor written)
            var mask = Tail(count - i);
            Avx512F.MaskStore(destination + i, mask, Avx512F.MaskLoad(source + i, mask, Vector512<float>.Zero));
            return;
        }
        for (; i < count; i++) destination[i] = source[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Zero(float* destination, int count)
    {
        int i = 0;
        for (; i + 16 <= count; i += 16) Vector512<float>.Zero.Store(destination + i);
        if (i == count) return;
        if (Avx512F.IsSupported)
        {
            Avx512F.MaskStore(destination + i, Tail(count - i), Vector512<float>.Zero);
            return;
        }
        for (; i < count; i++) destination[i] = 0f;
    }

    /// <summary>A lane mask with the first <paramref name="count"/> (0..16) lanes set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Tail(int count) =>
        Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>
    /// destination[i] = source[i * stride] for i &lt; count, reading no further than source[available - 1]; stride 2
    /// de-interleaves two vectors at a time where AVX-512 is present.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Gather(float* destination, float* source, int count, int stride, int available)
    {
        int i = 0;
        if (stride == 2 && Avx512F.IsSupported)
        {
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; i + 16 <= count && 2 * i + 32 <= available; i += 16)
                Avx512F.PermuteVar16x32x2(Vector512.Load(source + 2 * i), even, Vector512.Load(source + 2 * i + 16)).Store(destination + i);
        }
        for (; i < count; i++) destination[i] = source[(nint)i * stride];
    }

    /// <summary>Zeroes columns [cols, panel) of every row of a kc x panel micro-panel.</summary>
    internal static void ZeroTail(float* panelStart, int kc, int cols, int panel)
    {
        if (cols == panel) return;
        for (int k = 0; k < kc; k++) Zero(panelStart + (nint)k * panel + cols, panel - cols);
    }
}

/// <summary>
/// A dense strided matrix, optionally split into segments (one per image): L[k, j] = scale * p[k*ld + Seg(j)] when
/// <c>kMajor</c> (rows of L contiguous), else scale * p[j*ld + Seg(k)], where
/// Seg(t) = ((first + t) / segment) * segmentStride + (first + t) % segment walks a batch of images stored one after
/// another, starting <c>first</c> elements into it.
/// </summary>
internal readonly unsafe struct DenseSource(float* p, nint ld, bool kMajor, float scale = 1f, int segment = int.MaxValue, nint segmentStride = 0, int first = 0)
    : IPanelSource
{
    private nint Seg(int t) => segment == int.MaxValue ? first + t : (nint)((first + t) / segment) * segmentStride + (first + t) % segment;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        for (int t = 0, start = 0; start < width; t++, start += panel)
        {
            float* dst = destination + (nint)t * kc * panel;
            int cols = Math.Min(panel, width - start);
            if (kMajor) PackRows(dst, k0, kc, j0 + start, cols, panel);
            else PackColumns(dst, k0, kc, j0 + start, cols, panel);
            PanelCopy.ZeroTail(dst, kc, cols, panel);
        }
    }

    /// <summary>Rows of L are contiguous: copy runs of columns that stay inside one segment.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackRows(float* dst, int k0, int kc, int j, int cols, int panel)
    {
        for (int run = 0; run < cols;)
        {
            int len = Math.Min(cols - run, segment == int.MaxValue ? cols - run : segment - (first + j + run) % segment);
            float* src = p + Seg(j + run);
            for (int k = 0; k < kc; k++)
            {
                float* s = src + (nint)(k0 + k) * ld;
                float* d = dst + (nint)k * panel + run;
                if (scale == 1f) PanelCopy.Copy(d, s, len);
                else for (int i = 0; i < len; i++) d[i] = scale * s[i];
            }
            run += len;
        }
    }

    /// <summary>Columns of L are contiguous: each becomes a strided column of the panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackColumns(float* dst, int k0, int kc, int j, int cols, int panel)
    {
        for (int jj = 0; jj < cols; jj++)
        {
            float* column = p + (nint)(j + jj) * ld;
            for (int k = 0; k < kc;)
            {
                int len = Math.Min(kc - k, segment == int.MaxValue ? kc - k : segment - (first + k0 + k) % segment);
                float* s = column + Seg(k0 + k);
                float* d = dst + (nint)k * panel + jj;
                for (int i = 0; i < len; i++) d[(nint)i * panel] = scale * s[i];
                k += len;
            }
        }
    }
}

/// <summary>
/// An A operand packed ahead of time (<see cref="PackedWeights"/>): for each KC block starting at k0, all
/// ceil(M / mr) micro-panels of the logical matrix, so the driver reads block (k0, i0) at
/// packed + k0 * mPadded + i0 * kc without packing anything.
/// </summary>
internal readonly unsafe struct PrepackedSource(float* packed, int mPadded) : IPanelSource
{
    /// <summary>The packed block of rows [k0, k0 + kc) and columns from i0 (a multiple of the panel width).</summary>
    public float* Block(int k0, int kc, int i0) => packed + (nint)k0 * mPadded + (nint)i0 * kc;

    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel) =>
        throw new InvalidOperationException($"a prepacked operand is read in place: expected no packing call, got one for rows {k0}..{k0 + kc}");
}
