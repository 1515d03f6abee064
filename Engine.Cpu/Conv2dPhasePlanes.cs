using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Legend: N batch, C in channels, Cg = C/G, R x S kernel, H x W input, P x Q output, sh x sw stride, dh x dw
// dilation; CRS = Cg*R*S, PQ = P*Q, NPQ = N*PQ.

/// <summary>
/// The column matrix L (CRS x NPQ) of a strided convolution, as <see cref="Im2ColSource"/> (the same values, so the
/// GEMM's bits), packed through padded, phase-split planes. A piece of at most <see cref="PieceColumns"/> columns
/// first copies the input rows its output rows read, for the channels of the block's rows, into planes
///   planes[c, e, hp, φ, i] = x[n0 + e, c, hp - top, sw*i + φ - left] (0 outside x)
/// (e the piece's e-th image, hp a padded row, φ &lt; sw a phase, i &lt; Wq = Q + (S-1)*dw / sw). Tap (r, s) of pixel
/// (p, q) reads input column sw*q + s*dw - left: phase (s*dw) % sw at i = q + (s*dw) / sw of padded row p*sh + r*dh.
/// A run of consecutive q is then a run of consecutive floats with no bounds to check (the padding is in the planes),
/// so each 16 columns of a panel row are one load and one store (a masked load per output row they touch) instead of
/// a de-interleaving copy per tap and run; the input rows are copied once per piece (ResNet's 7x7 stride-2 stem: about
/// 1.7 times per pixel, against 12 reads per pixel in the taps' windows). 512-bit only (panels a multiple of 16 wide).
/// </summary>
internal readonly unsafe struct PhaseColumnsSource(float* x, in Conv2dGeometry g) : IPanelSource
{
    /// <summary>Most columns per piece (a multiple of every panel width; bounds the planes a piece copies).</summary>
    internal const int PieceColumns = 512;

    private const int Lanes = 16;

    private readonly ConvIndex _ix = new(g);

    /// <summary>Floats of one phase of a padded row (Wq).</summary>
    private readonly int _wq = g.OutWidth + (g.Kernel.Width - 1) * g.Dilation.Width / g.Stride.Width;

    /// <summary>Planes of the calling thread's piece (grown as needed, kept).</summary>
    [ThreadStatic] private static AlignedScratch? t_planes;

    /// <summary>The calling thread's piece's tap offsets (grown as needed, kept).</summary>
    [ThreadStatic] private static AlignedScratch? t_taps;

    /// <summary>
    /// A piece's planes and where its rows of L read them: tap k's window for pixel (p, q) of image n is
    /// Planes + Taps[k] + (n - N0)*ImageFloats + (p - pa)*sh*rowFloats + q, pa the image's first output row in the piece.
    /// </summary>
    internal readonly struct Piece(float* planes, nint* taps, int n0, int pFirst, nint imageFloats)
    {
        public readonly float* Planes = planes;
        public readonly nint* Taps = taps;
        public readonly int N0 = n0, PFirst = pFirst;
        public readonly nint ImageFloats = imageFloats;
    }

    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        CheckPanel(panel);
        for (int first = 0; first < width; first += PieceColumns)
        {
            int pieceWidth = Math.Min(PieceColumns, width - first);
            PackPanels(Prepare(k0, kc, j0 + first, pieceWidth), destination + (nint)(first / panel) * kc * panel, kc, j0 + first, pieceWidth, panel);
        }
    }

    internal static void CheckPanel(int panel)
    {
        if (panel % Lanes != 0)
            throw new ArgumentException($"PhaseColumnsSource: expected panels a multiple of {Lanes} columns wide, got {panel}");
    }

    /// <summary>
    /// The piece of columns [j0, j0 + width) (at most <see cref="PieceColumns"/>) for rows [k0, k0 + kc) of L: the input
    /// rows its output rows read, for the rows' channels, copied into the calling thread's planes; and the rows' tap
    /// offsets. Valid until the thread prepares another piece.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal Piece Prepare(int k0, int kc, int j0, int width)
    {
        var ix = _ix;
        int wq = _wq, rowFloats = ix.StrideW * wq, extent = (ix.R - 1) * ix.DilationH + 1;
        // the piece's images n0..n1 and channels c0..c1; each image's padded rows from its first output row's first
        // row to its last output row's last; image e's rows at planes + (c - c0)*channelFloats + e*imageFloats
        int n0 = j0 / ix.PQ, n1 = (j0 + width - 1) / ix.PQ, c0 = k0 / ix.RS, c1 = (k0 + kc - 1) / ix.RS;
        int pFirst = j0 % ix.PQ / ix.Q, pLast = (j0 + width - 1) % ix.PQ / ix.Q;
        int rows = n0 == n1 ? (pLast - pFirst) * ix.StrideH + extent : (ix.P - 1) * ix.StrideH + extent;
        nint imageFloats = (nint)rows * rowFloats, channelFloats = (n1 - n0 + 1) * imageFloats;
        float* planes = AlignedScratch.AtLeast(ref t_planes, (long)(c1 - c0 + 1) * channelFloats);
        for (int c = c0; c <= c1; c++)
            for (int n = n0; n <= n1; n++)
            {
                int pa = n == n0 ? pFirst : 0, pb = n == n1 ? pLast : ix.P - 1;
                CopyRows(planes + (c - c0) * channelFloats + (n - n0) * imageFloats, x + n * ix.ImageStride + (nint)c * ix.HW,
                    pa * ix.StrideH, (pb - pa) * ix.StrideH + extent, wq, rowFloats);
            }
        // per row k of the block: the offset of its window from pixel (pa, 0) of its image's planes
        nint* taps = (nint*)AlignedScratch.AtLeast(ref t_taps, (long)kc * sizeof(nint) / sizeof(float));
        int channel = k0 / ix.RS, r = k0 % ix.RS / ix.S, s = k0 % ix.S;
        for (int k = 0; k < kc; k++)
        {
            int u = s * ix.DilationW;
            taps[k] = (channel - c0) * channelFloats + (nint)r * ix.DilationH * rowFloats + u % ix.StrideW * wq + u / ix.StrideW;
            if (++s == ix.S)
            {
                s = 0;
                if (++r == ix.R)
                {
                    r = 0;
                    channel++;
                }
            }
        }
        return new Piece(planes, taps, n0, pFirst, imageFloats);
    }

    /// <summary>
    /// Columns [j0, j0 + width) of the <paramref name="kc"/> rows of <paramref name="piece"/> (inside its columns) into
    /// panels (columns past <paramref name="width"/> in the last panel zeroed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void PackPanels(in Piece piece, float* destination, int kc, int j0, int width, int panel)
    {
        Wide512Meter.Enter();
        var ix = _ix;
        nint rowStep = (nint)ix.StrideH * ix.StrideW * _wq;
        nint* taps = piece.Taps;
        var lane = Vector512<int>.Indices;
        int groups = GemmDriver.CeilDiv(width, panel) * (panel / Lanes);
        for (int v = 0; v < groups; v++)
        {
            int first = v * Lanes, t = first / panel, count = Math.Clamp(width - first, 0, Lanes);
            float* dst = destination + (nint)t * kc * panel + (first - t * panel);
            if (count == 0)
            {
                for (int k = 0; k < kc; k++) Vector512<float>.Zero.Store(dst + (nint)k * panel);
                continue;
            }
            // segments: lanes [a, b) hold pixels q.. of output row p of image n (a new row starts a new segment)
            for (int a = 0; a < count;)
            {
                int j = j0 + first + a, n = j / ix.PQ, p = j % ix.PQ / ix.Q, q = j % ix.Q, b = Math.Min(count, a + ix.Q - q);
                int pa = n == piece.N0 ? piece.PFirst : 0;
                // lane i reads window + taps[k] + i: pixel q + i - a of output row p
                float* window = piece.Planes + (n - piece.N0) * piece.ImageFloats + (p - pa) * rowStep + (q - a);
                if (a == 0 && b == Lanes)
                {
                    for (int k = 0; k < kc; k++) Vector512.Load(window + taps[k]).Store(dst + (nint)k * panel);
                }
                else
                {
                    var inSegment = (Vector512.GreaterThanOrEqual(lane, Vector512.Create(a)) & Vector512.LessThan(lane, Vector512.Create(b))).AsSingle();
                    bool merge = a > 0;
                    for (int k = 0; k < kc; k++)
                    {
                        float* d = dst + (nint)k * panel;
                        var old = merge ? Vector512.Load(d) : Vector512<float>.Zero;
                        Avx512F.MaskLoad(window + taps[k], inSegment, old).Store(d);
                    }
                }
                a = b;
            }
        }
    }

    /// <summary>
    /// Padded rows [hp0, hp0 + count) of one input plane: dst[(hp - hp0)*rowFloats + φ*wq + i] = plane[hp - top,
    /// sw*i + φ - left] (0 outside the plane).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void CopyRows(float* dst, float* plane, int hp0, int count, int wq, int rowFloats)
    {
        var ix = _ix;
        for (int hp = hp0; hp < hp0 + count; hp++, dst += rowFloats)
        {
            int h = hp - ix.Top;
            if ((uint)h >= (uint)ix.H)
            {
                PanelCopy.Zero(dst, rowFloats);
                continue;
            }
            float* row = plane + (nint)h * ix.W;
            for (int phase = 0; phase < ix.StrideW; phase++)
            {
                if (ix.StrideW == 2) PanelCopy.Window2(dst + phase * wq, row, phase - ix.Left, wq, ix.W);
                else PanelCopy.Strided(dst + phase * wq, row, phase - ix.Left, wq, ix.StrideW, ix.W);
            }
        }
    }
}
