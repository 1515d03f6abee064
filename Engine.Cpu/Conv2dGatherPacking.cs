using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

/// <summary>
/// The column matrix packed by masked gathers, for outputs with short rows (ResNet's 14x14 and 7x7 layers, strided
/// layers): a B micro-panel row k is L[k, j..j+panel) = x[n, c, p*strideH - top + r*dH, q*strideW - left + s*dW]
/// over the panel's pixels (n, p, q), 8 lanes per gather, lanes outside the input (or past the last column) zero.
/// It packs exactly what <see cref="Im2ColSource"/>'s runs pack, so the GEMM sees the same numbers.
/// </summary>
internal static unsafe class Im2ColGather
{
    internal const int Lanes = 8;

    /// <summary>Widest B micro-panel (the 512-bit kernel's 32 columns).</summary>
    private const int MaxPanel = GemmKernels.Nr512;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(float* x, in ConvIndex ix, float* destination, int k0, int kc, int j0, int width, int panel)
    {
        // per panel column: its image's offset, and the top-left corner (row, col) of its window (may be negative)
        int* image = stackalloc int[MaxPanel];
        int* top = stackalloc int[MaxPanel];
        int* left = stackalloc int[MaxPanel];
        int* active = stackalloc int[MaxPanel];
        var heightLimit = Vector256.Create(ix.H).AsUInt32();
        var widthLimit = Vector256.Create(ix.W).AsUInt32();
        var rowPitch = Vector256.Create(ix.W);
        int groups = panel / Lanes;
        for (int t = 0, first = 0; first < width; t++, first += panel)
        {
            float* dst = destination + (nint)t * kc * panel;
            int cols = Math.Min(panel, width - first);
            int j = j0 + first, n = j / ix.PQ, p = j % ix.PQ / ix.Q, q = j % ix.Q;
            for (int jj = 0; jj < panel; jj++)
            {
                image[jj] = (int)(n * ix.ImageStride);
                top[jj] = p * ix.StrideH - ix.Top;
                left[jj] = q * ix.StrideW - ix.Left;
                active[jj] = jj < cols ? -1 : 0;
                if (++q == ix.Q)
                {
                    q = 0;
                    if (++p == ix.P)
                    {
                        p = 0;
                        n++;
                    }
                }
            }
            for (int k = 0; k < kc; k++)
            {
                int row = k0 + k, c = row / ix.RS;
                int plane = c * ix.HW, tapH = row % ix.RS / ix.S * ix.DilationH, tapW = row % ix.S * ix.DilationW;
                float* dstRow = dst + (nint)k * panel;
                for (int g = 0; g < groups; g++)
                {
                    int o = g * Lanes;
                    var h = Vector256.Load(top + o) + Vector256.Create(tapH);
                    var w = Vector256.Load(left + o) + Vector256.Create(tapW);
                    var valid = Vector256.Load(active + o)
                        & Vector256.LessThan(h.AsUInt32(), heightLimit).AsInt32()
                        & Vector256.LessThan(w.AsUInt32(), widthLimit).AsInt32();
                    var offset = Vector256.Load(image + o) + Vector256.Create(plane) + h * rowPitch + w;
                    Avx2.GatherMaskVector256(Vector256<float>.Zero, x, offset, valid.AsSingle(), sizeof(float)).Store(dstRow + o);
                }
            }
        }
    }

    /// <summary>
    /// The transposed column matrix (<see cref="Im2ColTransposedSource"/>) by gathers: panel row k is pixel
    /// firstPixel + k0 + k and its columns are taps (c, r, s), each lane reading x at the window's top-left offset plus
    /// the tap's offset, masked off where the tap falls outside the input (only checked for border windows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackTransposed(float* x, in ConvIndex ix, int firstPixel, float* destination, int k0, int kc, int j0, int width, int panel)
    {
        int* tapOffset = stackalloc int[MaxPanel];
        int* tapH = stackalloc int[MaxPanel];
        int* tapW = stackalloc int[MaxPanel];
        int* active = stackalloc int[MaxPanel];
        var heightLimit = Vector256.Create(ix.H).AsUInt32();
        var widthLimit = Vector256.Create(ix.W).AsUInt32();
        int groups = panel / Lanes;
        for (int t = 0, first = 0; first < width; t++, first += panel)
        {
            float* dst = destination + (nint)t * kc * panel;
            int cols = Math.Min(panel, width - first);
            for (int jj = 0; jj < panel; jj++)
            {
                int col = j0 + first + Math.Min(jj, cols - 1), c = col / ix.RS, r = col % ix.RS / ix.S, s = col % ix.S;
                tapH[jj] = r * ix.DilationH;
                tapW[jj] = s * ix.DilationW;
                tapOffset[jj] = c * ix.HW + tapH[jj] * ix.W + tapW[jj];
                active[jj] = jj < cols ? -1 : 0;
            }
            int pixel = firstPixel + k0, n = pixel / ix.PQ, p = pixel % ix.PQ / ix.Q, q = pixel % ix.Q;
            for (int k = 0; k < kc; k++, q++)
            {
                if (q == ix.Q)
                {
                    q = 0;
                    if (++p == ix.P)
                    {
                        p = 0;
                        n++;
                    }
                }
                int h0 = p * ix.StrideH - ix.Top, w0 = q * ix.StrideW - ix.Left;
                bool inside = h0 >= 0 && w0 >= 0 && h0 + ix.ExtentH <= ix.H && w0 + ix.ExtentW <= ix.W;
                var corner = Vector256.Create((int)(n * ix.ImageStride) + h0 * ix.W + w0);
                float* d = dst + (nint)k * panel;
                for (int g = 0; g < groups; g++)
                {
                    int o = g * Lanes;
                    var valid = Vector256.Load(active + o);
                    if (!inside)
                        valid &= Vector256.LessThan((Vector256.Load(tapH + o) + Vector256.Create(h0)).AsUInt32(), heightLimit).AsInt32()
                            & Vector256.LessThan((Vector256.Load(tapW + o) + Vector256.Create(w0)).AsUInt32(), widthLimit).AsInt32();
                    Avx2.GatherMaskVector256(Vector256<float>.Zero, x, corner + Vector256.Load(tapOffset + o), valid.AsSingle(), sizeof(float)).Store(d + o);
                }
            }
        }
    }
}
