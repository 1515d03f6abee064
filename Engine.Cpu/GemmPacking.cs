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

/// <summary>Columns [first, first + n) of another source seen as columns [0, n): a GEMM over a slice of its columns.</summary>
internal readonly unsafe struct ColumnSlice<T>(T inner, int first) : IPanelSource where T : struct, IPanelSource
{
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel) =>
        inner.Pack(destination, k0, kc, first + j0, width, panel);
}

/// <summary>
/// Copies and zero fills for short runs inside a panel row: 16-float vectors and masked tails with AVX-512
/// (<see cref="GemmKernels.Use512"/>), else 8-float vectors and a scalar tail.
/// </summary>
internal static unsafe class PanelCopy
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Copy(float* destination, float* source, int count)
    {
        int i = 0;
        if (!GemmKernels.Use512)
        {
            for (; i + 8 <= count; i += 8) Vector256.Store(Vector256.Load(source + i), destination + i);
            for (; i < count; i++) destination[i] = source[i];
            return;
        }
        Wide512Meter.Tick(ref Wide512Meter.PanelCopies);
        for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(source + i), destination + i);
        if (i == count) return;
        // the last 1..15 floats: one masked load and store (masked-off lanes are neither read nor written)
        var mask = Tail(count - i);
        Avx512F.MaskStore(destination + i, mask, Avx512F.MaskLoad(source + i, mask, Vector512<float>.Zero));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Zero(float* destination, int count)
    {
        int i = 0;
        if (!GemmKernels.Use512)
        {
            for (; i + 8 <= count; i += 8) Vector256<float>.Zero.Store(destination + i);
            for (; i < count; i++) destination[i] = 0f;
            return;
        }
        Wide512Meter.Tick(ref Wide512Meter.PanelCopies);
        for (; i + 16 <= count; i += 16) Vector512<float>.Zero.Store(destination + i);
        if (i == count) return;
        Avx512F.MaskStore(destination + i, Tail(count - i), Vector512<float>.Zero);
    }

    /// <summary>
    /// destination[t] = row[w0 + t] where 0 &lt;= w0 + t &lt; width, else 0, for t &lt; count (a stride-1 run of an im2col
    /// row with its zero padding); reads nothing outside row[0, width). With AVX-512 each 16 floats are one masked
    /// load (lanes outside the row are neither read nor faulted) and one masked store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Window(float* destination, float* row, int w0, int count, int width)
    {
        if (GemmKernels.Use512)
        {
            Wide512Meter.Tick(ref Wide512Meter.PanelCopies);
            var lane = Vector512<int>.Indices;
            for (int t = 0; t < count; t += 16)
            {
                int first = w0 + t;
                if (first >= 0 && first + 16 <= width && count - t >= 16)
                {
                    Vector512.Load(row + first).Store(destination + t);
                    continue;
                }
                // lane i is column w0 + t + i of the row, and panel entry t + i
                var inside = Vector512.GreaterThanOrEqual(lane, Vector512.Create(-w0 - t)) & Vector512.LessThan(lane, Vector512.Create(width - w0 - t));
                var stored = Tail(count - t);
                var values = Avx512F.MaskLoad(row + w0 + t, (inside & stored.AsInt32()).AsSingle(), Vector512<float>.Zero);
                Avx512F.MaskStore(destination + t, stored, values);
            }
            return;
        }
        int lo = Math.Clamp(-w0, 0, count), hi = Math.Clamp(width - w0, lo, count);
        Zero(destination, lo);
        Copy(destination + lo, row + w0 + lo, hi - lo);
        Zero(destination + hi, count - hi);
    }

    /// <summary>A lane mask with the first <paramref name="count"/> lanes set (all 16 when count &gt;= 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Tail(int count) =>
        Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>
    /// destination[t] = row[w0 + 2t] where 0 &lt;= w0 + 2t &lt; width, else 0, for t &lt; count (a stride-2 run of an im2col
    /// row with its zero padding); reads nothing outside row[0, width). With AVX-512 each 16 floats are two masked loads
    /// of 32 consecutive columns, de-interleaved by one vpermt2ps, and one masked store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Window2(float* destination, float* row, int w0, int count, int width)
    {
        if (GemmKernels.Use512)
        {
            Wide512Meter.Tick(ref Wide512Meter.PanelCopies);
            var lane = Vector512<int>.Indices;
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (int t = 0; t < count; t += 16)
            {
                // lane i of the two loads is column first + i and first + 16 + i of the row
                int first = w0 + 2 * t;
                if (first >= 0 && first + 32 <= width && count - t >= 16)
                {
                    Avx512F.PermuteVar16x32x2(Vector512.Load(row + first), even, Vector512.Load(row + first + 16)).Store(destination + t);
                    continue;
                }
                var low = Vector512.GreaterThanOrEqual(lane, Vector512.Create(-first)) & Vector512.LessThan(lane, Vector512.Create(width - first));
                var high = Vector512.GreaterThanOrEqual(lane, Vector512.Create(-16 - first)) & Vector512.LessThan(lane, Vector512.Create(width - 16 - first));
                var a = Avx512F.MaskLoad(row + first, low.AsSingle(), Vector512<float>.Zero);
                var b = Avx512F.MaskLoad(row + first + 16, high.AsSingle(), Vector512<float>.Zero);
                Avx512F.MaskStore(destination + t, Tail(count - t), Avx512F.PermuteVar16x32x2(a, even, b));
            }
            return;
        }
        Strided(destination, row, w0, count, 2, width);
    }

    /// <summary>destination[t] = row[w0 + t*stride] where 0 &lt;= w0 + t*stride &lt; width, else 0, for t &lt; count.</summary>
    internal static void Strided(float* destination, float* row, int w0, int count, int stride, int width)
    {
        for (int t = 0, w = w0; t < count; t++, w += stride) destination[t] = (uint)w < (uint)width ? row[w] : 0f;
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

    /// <summary>Whether rows of L are contiguous and unscaled (packed row by row, <see cref="PackRowsWide"/>).</summary>
    public bool RowsContiguous => kMajor && scale == 1f;

    /// <summary>
    /// Prefetches into L2 (prefetcht1) the source lines of rows [k0, k0 + kc) and columns [j0, j0 + width), run by
    /// run of one segment, for a later <see cref="Pack"/> (rows contiguous: <see cref="RowsContiguous"/>).
    /// </summary>
    public void Prefetch(int k0, int kc, int j0, int width)
    {
        if (!kMajor || !Sse.IsSupported) return;
        for (int jj = 0; jj < width;)
        {
            int len = segment == int.MaxValue ? width - jj : Math.Min(width - jj, segment - (first + j0 + jj) % segment);
            for (int k = k0; k < k0 + kc; k++)
            {
                byte* start = (byte*)(p + (nint)k * ld + Seg(j0 + jj)), end = start + (nint)len * sizeof(float);
                for (byte* line = (byte*)((nint)start & ~(nint)63); line < end; line += 64) Sse.Prefetch1(line);
            }
            jj += len;
        }
    }

    /// <summary>Columns of the block whose runs are tabulated at a time (bounds the stack tables).</summary>
    private const int RunSlab = 512;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        if (width <= 0) return;
        if (kMajor && scale == 1f)
        {
            for (int slab = 0; slab < width; slab += RunSlab)
                PackRowsWide(destination, k0, kc, j0, slab, Math.Min(RunSlab, width - slab), panel);
            int last = (width - 1) / panel;
            PanelCopy.ZeroTail(destination + (nint)last * kc * panel, kc, width - last * panel, panel);
            return;
        }
        for (int t = 0, start = 0; start < width; t++, start += panel)
        {
            float* dst = destination + (nint)t * kc * panel;
            int cols = Math.Min(panel, width - start);
            if (kMajor) PackRows(dst, k0, kc, j0 + start, cols, panel);
            else PackColumns(dst, k0, kc, j0 + start, cols, panel);
            PanelCopy.ZeroTail(dst, kc, cols, panel);
        }
    }

    /// <summary>
    /// Rows of L are contiguous (unscaled): columns [from, from + cols) of the block, row after row, each row's runs
    /// (one segment, one panel) copied in turn, so the source is read as long sequential stretches (a few KB per row
    /// instead of one panel's 128 bytes from each of kc rows: far fewer streams for the prefetcher and the TLB).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackRowsWide(float* destination, int k0, int kc, int j0, int from, int cols, int panel)
    {
        nint* source = stackalloc nint[RunSlab];
        nint* target = stackalloc nint[RunSlab];
        int* length = stackalloc int[RunSlab];
        int runs = 0;
        for (int jj = from; jj < from + cols;)
        {
            int t = jj / panel, at = jj - t * panel;
            int len = Math.Min(Math.Min(from + cols - jj, panel - at), segment == int.MaxValue ? int.MaxValue : segment - (first + j0 + jj) % segment);
            source[runs] = Seg(j0 + jj);
            target[runs] = (nint)t * kc * panel + at;
            length[runs] = len;
            runs++;
            jj += len;
        }
        for (int k = 0; k < kc; k++)
        {
            float* row = p + (nint)(k0 + k) * ld;
            float* dst = destination + (nint)k * panel;
            for (int u = 0; u < runs; u++) PanelCopy.Copy(dst + target[u], row + source[u], length[u]);
        }
    }

    /// <summary>Rows of L are contiguous (scaled): copy runs of columns that stay inside one segment, panel by panel.</summary>
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
        if (!GemmKernels.Use512)
        {
            PackColumnsScalar(dst, k0, 0, kc, j, cols, panel);
            return;
        }
        // 16 k at a time: up to 16 columns of L (rows of p) transposed in registers, where the 16 k lie in one segment
        var factor = Vector512.Create(scale);
        int k = 0;
        for (; k + 16 <= kc; k += 16)
        {
            if (segment != int.MaxValue && (first + k0 + k) % segment + 16 > segment)
            {
                PackColumnsScalar(dst, k0, k, k + 16, j, cols, panel);
                continue;
            }
            nint at = Seg(k0 + k);
            for (int jj = 0; jj < cols; jj += 16)
                PanelTranspose.Block16(p + (nint)(j + jj) * ld + at, ld, Math.Min(16, cols - jj), factor, dst + (nint)k * panel + jj, panel);
        }
        if (k < kc) PackColumnsScalar(dst, k0, k, kc, j, cols, panel);
    }

    /// <summary>Rows [from, to) of the block one element at a time, run by run of one segment.</summary>
    private void PackColumnsScalar(float* dst, int k0, int from, int to, int j, int cols, int panel)
    {
        for (int jj = 0; jj < cols; jj++)
        {
            float* column = p + (nint)(j + jj) * ld;
            for (int k = from; k < to;)
            {
                int len = Math.Min(to - k, segment == int.MaxValue ? to - k : segment - (first + k0 + k) % segment);
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

/// <summary>
/// A 16 x 16 transpose in AVX-512 registers, for packing panels from matrices stored the other way round (only where
/// <see cref="GemmKernels.Use512"/>; the 256-bit paths transpose element by element).
/// </summary>
internal static unsafe class PanelTranspose
{
    /// <summary>
    /// destination[k * stride + i] = factor * source[i * ld + k] for k &lt; 16 and i &lt; rows (rows &lt;= 16): 16 values
    /// of each of <paramref name="rows"/> source rows become 16 destination rows of <paramref name="rows"/> values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block16(float* source, nint ld, int rows, Vector512<float> factor, float* destination, int stride)
    {
        Wide512Meter.Tick(ref Wide512Meter.Transposes);
        var r0 = Row(source, ld, 0, rows, factor); var r1 = Row(source, ld, 1, rows, factor); var r2 = Row(source, ld, 2, rows, factor); var r3 = Row(source, ld, 3, rows, factor);
        var r4 = Row(source, ld, 4, rows, factor); var r5 = Row(source, ld, 5, rows, factor); var r6 = Row(source, ld, 6, rows, factor); var r7 = Row(source, ld, 7, rows, factor);
        var r8 = Row(source, ld, 8, rows, factor); var r9 = Row(source, ld, 9, rows, factor); var r10 = Row(source, ld, 10, rows, factor); var r11 = Row(source, ld, 11, rows, factor);
        var r12 = Row(source, ld, 12, rows, factor); var r13 = Row(source, ld, 13, rows, factor); var r14 = Row(source, ld, 14, rows, factor); var r15 = Row(source, ld, 15, rows, factor);
        // stage 1: interleave pairs of rows by single floats
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1); var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5); var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9); var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13); var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        // stage 2: interleave by pairs of floats, giving 4 x 4 blocks per 128-bit lane
        r0 = Lo(t0, t2); r1 = Hi(t0, t2); r2 = Lo(t1, t3); r3 = Hi(t1, t3);
        r4 = Lo(t4, t6); r5 = Hi(t4, t6); r6 = Lo(t5, t7); r7 = Hi(t5, t7);
        r8 = Lo(t8, t10); r9 = Hi(t8, t10); r10 = Lo(t9, t11); r11 = Hi(t9, t11);
        r12 = Lo(t12, t14); r13 = Hi(t12, t14); r14 = Lo(t13, t15); r15 = Hi(t13, t15);
        // stages 3 and 4: move whole 128-bit lanes (0x88 takes lanes 0 and 2 of each source, 0xDD lanes 1 and 3)
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88); t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD); t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88); t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD); t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
        var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(rows)).AsSingle();
        Store(destination, stride, 0, mask, Avx512F.Shuffle4x128(t0, t8, 0x88)); Store(destination, stride, 1, mask, Avx512F.Shuffle4x128(t1, t9, 0x88));
        Store(destination, stride, 2, mask, Avx512F.Shuffle4x128(t2, t10, 0x88)); Store(destination, stride, 3, mask, Avx512F.Shuffle4x128(t3, t11, 0x88));
        Store(destination, stride, 4, mask, Avx512F.Shuffle4x128(t4, t12, 0x88)); Store(destination, stride, 5, mask, Avx512F.Shuffle4x128(t5, t13, 0x88));
        Store(destination, stride, 6, mask, Avx512F.Shuffle4x128(t6, t14, 0x88)); Store(destination, stride, 7, mask, Avx512F.Shuffle4x128(t7, t15, 0x88));
        Store(destination, stride, 8, mask, Avx512F.Shuffle4x128(t0, t8, 0xDD)); Store(destination, stride, 9, mask, Avx512F.Shuffle4x128(t1, t9, 0xDD));
        Store(destination, stride, 10, mask, Avx512F.Shuffle4x128(t2, t10, 0xDD)); Store(destination, stride, 11, mask, Avx512F.Shuffle4x128(t3, t11, 0xDD));
        Store(destination, stride, 12, mask, Avx512F.Shuffle4x128(t4, t12, 0xDD)); Store(destination, stride, 13, mask, Avx512F.Shuffle4x128(t5, t13, 0xDD));
        Store(destination, stride, 14, mask, Avx512F.Shuffle4x128(t6, t14, 0xDD)); Store(destination, stride, 15, mask, Avx512F.Shuffle4x128(t7, t15, 0xDD));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(float* source, nint ld, int i, int rows, Vector512<float> factor) =>
        i < rows ? Vector512.Load(source + i * ld) * factor : Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lo(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Hi(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* destination, int stride, int k, Vector512<float> mask, Vector512<float> row) =>
        Avx512F.MaskStore(destination + (nint)k * stride, mask, row);
}
