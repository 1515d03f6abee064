using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// The forward of kernels 5 wide by F(4, 5) along rows (Legend as in Conv2dDirect.cs): each 10 outputs of a row are
// two F(4, 5) tiles (outputs 0-3 and 4-7) and an F(2, 5) tile (outputs 8 and 9), 8 + 8 + 6 = 22 products per kernel
// row where F(2, 5) alone takes 30 (Conv2dWinograd.cs) and the direct sum 50. F(4, 5) on the points 0, 1, -1, 2, -2,
// 1/2, -1/2, infinity: four outputs y_e = sum_s g_s d_(e+s) of eight inputs d_0..7 are A^T [(G g) . (B^T d)] with
//
//   B^T d = (4(d0 - d6) + 21(d4 - d2),   e1 + o1,  e1 - o1,   e2 + o2,  e2 - o2,   e3 + o3,  e3 - o3,
//            4(d7 - d1) + 21(d3 - d5))
//     e1 = 17d4 - 4(d2 + d6), o1 = 17d3 - 4(d1 + d5);  e2 = d2 - 5d4 + 4d6, o2 = 2d1 - 10d3 + 8d5;
//     e3 = 8d2 - 10d4 + 2d6, o3 = 4d1 - 5d3 + d5
//   G g   = (g0/4,  (g0 + g1 + g2 + g3 + g4)/18,  (g0 - g1 + g2 - g3 + g4)/18,
//            (g0 + 2g1 + 4g2 + 8g3 + 16g4)/360,  (g0 - 2g1 + 4g2 - 8g3 + 16g4)/360,
//            (16g0 + 8g1 + 4g2 + 2g3 + g4)/45,  (16g0 - 8g1 + 4g2 - 2g3 + g4)/45,  g4/4)
//   A^T m = (m0 + m1 + m2 + m3 + m4 + m5 + m6,  m1 - m2 + 2(m3 - m4) + (m5 - m6)/2,
//            m1 + m2 + 4(m3 + m4) + (m5 + m6)/4,  m1 - m2 + 8(m3 - m4) + (m5 - m6)/8 + m7)
//
// (derived by Toom-Cook: A^T evaluates the outputs' polynomial, G the kernel's, B^T = V^-T for the points'
// Vandermonde matrix V, rows scaled to integers). Its rounding is about 1.5 times F(2, 5)'s (the test holds it to the
// same 2e-6 per unit of sum |terms|). Unlike F(2, 5), it does not keep a NaN or infinite input inside the windows that
// hold it (every output of a tile mixes all eight inputs), so an image whose input holds one runs through F(2, 5)
// instead (the check rides on the input transform): results keep F(2, 5)'s NaN behaviour, and stay independent of the
// thread count (the choice depends on the image's data only).
//
// The F(2, 5) tile uses F(4, 5)'s transformed weights at the points they share (0, 1, -1, 2, -2, infinity: G's rows
// there are F(2, 5)'s divided by 4, 18, 18, 360, 360, 4), its input rows scaled to match:
//
//   B^T d = (4d0 - 5d2 + d4,  e + o,  e - o,  e' + o',  e' - o',  16d1 - 20d3 + 4d5)   at the points j = 0, 1, 2, 3, 4, 7
//     e = 12d2 - 3d4, o = 12d1 - 3d3;  e' = 15(d4 - d2), o' = 30(d3 - d1)
//   A^T m = (m0 + m1 + m2 + m3 + m4,  m1 - m2 + 2(m3 - m4) + m7)
//
// So a kernel row keeps 8 weight vectors in L1 (an F(2, 5) tile with weights of its own, 14 vectors a row, measured no
// faster than F(2, 5) alone), and the 10 outputs need 22 products where three F(4, 5) tiles with two outputs dropped
// took 23 (measured 0.093 against 0.0945 ms, medians of 10 alternated bench runs).
//
// The input transform runs 16 input rows at a time: a 16 x 16 transpose turns 14 columns of 16 rows into 14 vectors
// d_0..13 (lane = row); the F(4, 5) tiles' inputs are d_0..7 and d_4..11, the F(2, 5) tile's d_8..13. V[j, run, u, row];
// the tiles broadcast V at row c*H + p + r*dH for kernel row (c, r) of output row p.
public sealed partial class CpuBackend
{
    /// <summary>
    /// Whether F(2, 5)'s forward runs its rows as F(4, 5) tiles (default true). Tests switch it off to
    /// check the F(2, 5) rows alone, which images with a NaN or infinite input take anyway.
    /// </summary>
    internal static bool WinogradHybridEnabled { get; set; } = true;

    /// <summary>Transformed inputs and products per F(4, 5) tile.</summary>
    private const int HybridPoints = 8;

    /// <summary>
    /// u[grp*blocks + block, c*R + r, j, i] = (G g)_j of F(4, 5) for g = w[grp*Kg + block*16 + i, c, r, 0..5), summed in
    /// double and rounded once (as <see cref="WinogradWeights"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradWeights4(in Conv2dGeometry g, float* w, float* u)
    {
        int rows = g.InChannelsPerGroup * g.Kernel.Height, kg = g.OutChannelsPerGroup, blocks = kg / ChannelVector;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int k = 0; k < kg; k++)
            {
                float* lanes = u + (nint)(grp * blocks + k / ChannelVector) * rows * HybridPoints * ChannelVector + k % ChannelVector;
                float* wk = w + (nint)(grp * kg + k) * rows * 5;
                for (int row = 0; row < rows; row++)
                    HybridWeightRow(wk + row * 5, 1, lanes + (nint)row * HybridPoints * ChannelVector, ChannelVector);
            }
    }

    /// <summary>
    /// at[j * pointStep] = (G g)_j of F(4, 5) (the file's comment) for the taps g_i = taps[i * tapStep], i &lt; 5,
    /// summed in double and rounded once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void HybridWeightRow(float* taps, nint tapStep, float* at, nint pointStep)
    {
        const double Eighteenth = 1.0 / 18, ThreeSixtieth = 1.0 / 360, FortyFifth = 1.0 / 45;
        double g0 = taps[0], g1 = taps[tapStep], g2 = taps[2 * tapStep], g3 = taps[3 * tapStep], g4 = taps[4 * tapStep];
        double even = g0 + g2 + g4, odd = g1 + g3;
        double even2 = g0 + 4 * g2 + 16 * g4, odd2 = 2 * g1 + 8 * g3;
        double evenHalf = 16 * g0 + 4 * g2 + g4, oddHalf = 8 * g1 + 2 * g3;
        at[0] = (float)(g0 * 0.25);
        at[pointStep] = (float)((even + odd) * Eighteenth);
        at[2 * pointStep] = (float)((even - odd) * Eighteenth);
        at[3 * pointStep] = (float)((even2 + odd2) * ThreeSixtieth);
        at[4 * pointStep] = (float)((even2 - odd2) * ThreeSixtieth);
        at[5 * pointStep] = (float)((evenHalf + oddHalf) * FortyFifth);
        at[6 * pointStep] = (float)((evenHalf - oddHalf) * FortyFifth);
        at[7 * pointStep] = (float)(g4 * 0.25);
    }

    /// <summary>Tiles per run of 10 outputs (two F(4, 5), one F(2, 5)).</summary>
    private const int HybridTiles = 3;

    /// <summary>
    /// Blocks [first, end) of image n, group grp by F(4, 5) tiles: the group's input rows transformed to V
    /// (<see cref="HybridInput"/>), then per block every output row's 10-pixel runs staged [pixel, channel] and
    /// transposed into y. False, with nothing written to y, when the image's input holds a NaN or an infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool WinogradHybridImage(in Conv2dGeometry g, int* offsets, float* x, float* u4, float* bias, float* y,
        int n, int grp, int first, int end)
    {
        Wide512Meter.Enter();
        int cg = g.InChannelsPerGroup, kg = g.OutChannelsPerGroup, blocks = kg / ChannelVector, rows = cg * g.Kernel.Height;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, runs = outW / ChannelTilePixels, w = g.InWidth;
        int inRows = cg * g.InHeight, rp = (inRows + ChannelVector - 1) / ChannelVector * ChannelVector;
        // each transpose reads 16 columns from a run's first, 2 past the row's end for the last run: in place unless
        // that runs past the input (the last image's last group), which reads a copy with a zero tail instead
        long start = ((long)n * g.InChannels + grp * cg) * g.InHeight * w, planes = (long)inRows * w;
        bool inPlace = start + planes + ChannelVector <= (long)g.Batch * g.InChannels * g.InHeight * w;
        long copyFloats = inPlace ? 0 : (planes + 2 * ChannelVector) / ChannelVector * ChannelVector;
        long vFloats = (long)HybridPoints * runs * HybridTiles * rp;
        float* scratch = DirectScratch(copyFloats + vFloats + (long)pq * ChannelVector);
        float* v = scratch + copyFloats, tile = v + vFloats;
        float* source = x + start;
        if (!inPlace)
        {
            new ReadOnlySpan<float>(source, (int)planes).CopyTo(new Span<float>(scratch, (int)planes));
            new Span<float>(scratch + planes, ChannelVector).Clear();
            source = scratch;
        }
        if (!HybridInput(source, w, inRows, runs, rp, v)) return false;
        nint point = (nint)runs * HybridTiles * rp;
        for (int block = first; block < end; block++)
        {
            int k0 = grp * kg + block * ChannelVector;
            var biasLanes = bias is null ? Vector512<float>.Zero : Vector512.Load(bias + k0);
            float* ub = u4 + (nint)(grp * blocks + block) * rows * HybridPoints * ChannelVector;
            for (int p = 0; p < outH; p++)
                for (int run = 0; run < runs; run++)
                    HybridTile(v + (nint)run * HybridTiles * rp + p, point, rp, offsets, rows, ub, biasLanes,
                        tile + ((nint)p * outW + run * ChannelTilePixels) * ChannelVector);
            // tile[pixel, i] -> y[k0 + i, pixel], 16 pixels at a time
            float* yBlock = y + ((nint)n * g.OutChannels + k0) * pq;
            for (int pixel = 0; pixel < pq; pixel += ChannelVector)
                PanelTranspose.Block16(tile + (nint)pixel * ChannelVector, ChannelVector, Math.Min(ChannelVector, pq - pixel), Vector512<float>.One, yBlock + pixel, pq);
        }
        return true;
    }

    /// <summary>
    /// For each run of 10 outputs and each 16 of the <paramref name="inRows"/> input rows (row stride
    /// <paramref name="w"/>): d_k = the rows' column 10*run + k as a vector (lane = row), k &lt; 14, by one transpose;
    /// then V[j, run, u, row] = (B^T d_(4u..4u+8))_j for the F(4, 5) tiles u = 0, 1 and F(2, 5)'s (B^T d_(8..14))_j for
    /// u = 2 (j = 0, 1, 2, 3, 4, 7; <see cref="Input2"/>). False when a column holds
    /// a NaN or an infinity (their sum times 0 is NaN then), checked over every row and run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool HybridInput(float* source, int w, int inRows, int runs, int rp, float* v)
    {
        float* columns = stackalloc float[ChannelVector * ChannelVector + ChannelVector];
        float* d = (float*)(((nint)columns + 63) & ~(nint)63);
        var poison = Vector512<float>.Zero;
        nint point = (nint)runs * HybridTiles * rp;
        for (int run = 0; run < runs; run++)
            for (int row = 0; row < inRows; row += ChannelVector)
            {
                // d[k*16 + i] = source[(row + i)*w + 10*run + k]
                PanelTranspose.Block16(source + (nint)row * w + run * ChannelTilePixels, w, Math.Min(ChannelVector, inRows - row), Vector512<float>.One, d, ChannelVector);
                var d0 = Vector512.Load(d); var d1 = Vector512.Load(d + 16); var d2 = Vector512.Load(d + 32); var d3 = Vector512.Load(d + 48);
                var d4 = Vector512.Load(d + 64); var d5 = Vector512.Load(d + 80); var d6 = Vector512.Load(d + 96); var d7 = Vector512.Load(d + 112);
                var d8 = Vector512.Load(d + 128); var d9 = Vector512.Load(d + 144); var d10 = Vector512.Load(d + 160); var d11 = Vector512.Load(d + 176);
                var d12 = Vector512.Load(d + 192); var d13 = Vector512.Load(d + 208);
                var sum = ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7)) + ((d8 + d9) + (d10 + d11)) + (d12 + d13);
                poison = Vector512.FusedMultiplyAdd(sum, Vector512<float>.Zero, poison);
                float* at = v + (nint)run * HybridTiles * rp + row;
                Input4(d0, d1, d2, d3, d4, d5, d6, d7, at, point);
                Input4(d4, d5, d6, d7, d8, d9, d10, d11, at + rp, point);
                Input2(d8, d9, d10, d11, d12, d13, at + 2 * rp, point);
            }
        return Vector512.EqualsAll(poison, Vector512<float>.Zero);
    }

    /// <summary>at[j * point] = (B^T d)_j of F(4, 5) (the file's comment) for j &lt; 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Input4(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        Vector512<float> d4, Vector512<float> d5, Vector512<float> d6, Vector512<float> d7, float* at, nint point)
    {
        var four = Vector512.Create(4f);
        var twentyOne = Vector512.Create(21f);
        Vector512.FusedMultiplyAdd(twentyOne, d4 - d2, four * (d0 - d6)).Store(at);
        var e = Vector512.FusedMultiplyAdd(Vector512.Create(17f), d4, -four * (d2 + d6));
        var o = Vector512.FusedMultiplyAdd(Vector512.Create(17f), d3, -four * (d1 + d5));
        (e + o).Store(at + point);
        (e - o).Store(at + 2 * point);
        e = Vector512.FusedMultiplyAdd(Vector512.Create(-5f), d4, Vector512.FusedMultiplyAdd(four, d6, d2));
        o = Vector512.FusedMultiplyAdd(Vector512.Create(-10f), d3, Vector512.FusedMultiplyAdd(Vector512.Create(8f), d5, d1 + d1));
        (e + o).Store(at + 3 * point);
        (e - o).Store(at + 4 * point);
        e = Vector512.FusedMultiplyAdd(Vector512.Create(8f), d2, Vector512.FusedMultiplyAdd(Vector512.Create(-10f), d4, d6 + d6));
        o = Vector512.FusedMultiplyAdd(four, d1, Vector512.FusedMultiplyAdd(Vector512.Create(-5f), d3, d5));
        (e + o).Store(at + 5 * point);
        (e - o).Store(at + 6 * point);
        Vector512.FusedMultiplyAdd(twentyOne, d3 - d5, four * (d7 - d1)).Store(at + 7 * point);
    }

    /// <summary>
    /// at[j * point] for j = 0, 1, 2, 3, 4, 7 = (B^T d)_j of F(2, 5) on the points 0, 1, -1, 2, -2, infinity, its rows
    /// scaled to meet F(4, 5)'s transformed weights at those points (the file's comment): the third tile's two outputs
    /// are m0 + m1 + m2 + m3 + m4 and m1 - m2 + 2(m3 - m4) + m7 with m_j = u4_j * at[j * point].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Input2(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        Vector512<float> d4, Vector512<float> d5, float* at, nint point)
    {
        Vector512.FusedMultiplyAdd(Vector512.Create(-5f), d2, Vector512.FusedMultiplyAdd(Vector512.Create(4f), d0, d4)).Store(at);
        var twelve = Vector512.Create(12f);
        var e = Vector512.FusedMultiplyAdd(twelve, d2, Vector512.Create(-3f) * d4);
        var o = Vector512.FusedMultiplyAdd(twelve, d1, Vector512.Create(-3f) * d3);
        (e + o).Store(at + point);
        (e - o).Store(at + 2 * point);
        e = Vector512.Create(15f) * (d4 - d2);
        o = Vector512.Create(30f) * (d3 - d1);
        (e + o).Store(at + 3 * point);
        (e - o).Store(at + 4 * point);
        Vector512.FusedMultiplyAdd(Vector512.Create(-20f), d3, Vector512.FusedMultiplyAdd(Vector512.Create(16f), d1, Vector512.Create(4f) * d5)).Store(at + 7 * point);
    }

    /// <summary>
    /// tile[e, :] = bias + output e of a run of 10 pixels: tiles u = 0, 1 (pixels 4u..4u+3) and 2 (pixels 8, 9)
    /// with m_j = sum over kernel rows of u4[row, j, :] * v[j*point + u*tileStride + offsets[row]]. Two passes over the
    /// kernel rows, points 1 to 4, then 0, 5, 6, 7 (12 and 10 accumulators, folded into the 10 outputs by A^T after each
    /// pass; the F(2, 5) tile takes points 1 to 4, then 0 and 7).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HybridTile(float* v, nint point, nint tileStride, int* offsets, int rows, float* u4, Vector512<float> bias, float* tile)
    {
        const int Step = HybridPoints * ChannelVector;
        var two = Vector512.Create(2f);
        var four = Vector512.Create(4f);
        var eight = Vector512.Create(8f);
        Vector512<float> y0, y1, y2, y3, y4, y5, y6, y7, y8, y9;
        {
            // points 1, -1, 2, -2 (j = 1..4): a, b, c for the three tiles
            float* p1 = v + point, p2 = v + 2 * point, p3 = v + 3 * point, p4 = v + 4 * point;
            Vector512<float> a1 = default, a2 = default, a3 = default, a4 = default, b1 = default, b2 = default, b3 = default, b4 = default;
            Vector512<float> c1 = default, c2 = default, c3 = default, c4 = default;
            for (int row = 0; row < rows; row++)
            {
                nint o = offsets[row], ob = o + tileStride, oc = ob + tileStride;
                float* ur = u4 + (nint)row * Step;
                var u = Vector512.Load(ur + ChannelVector);
                a1 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p1[o]), a1);
                b1 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p1[ob]), b1);
                c1 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p1[oc]), c1);
                u = Vector512.Load(ur + 2 * ChannelVector);
                a2 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p2[o]), a2);
                b2 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p2[ob]), b2);
                c2 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p2[oc]), c2);
                u = Vector512.Load(ur + 3 * ChannelVector);
                a3 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p3[o]), a3);
                b3 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p3[ob]), b3);
                c3 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p3[oc]), c3);
                u = Vector512.Load(ur + 4 * ChannelVector);
                a4 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p4[o]), a4);
                b4 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p4[ob]), b4);
                c4 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p4[oc]), c4);
            }
            // y0 = s1 + s2, y1 = d1 + 2 d2, y2 = s1 + 4 s2, y3 = d1 + 8 d2 (s1, d1 = m1 +- m2; s2, d2 = m3 +- m4)
            var s1 = a1 + a2; var d1 = a1 - a2; var s2 = a3 + a4; var d2 = a3 - a4;
            y0 = s1 + s2; y1 = Vector512.FusedMultiplyAdd(two, d2, d1); y2 = Vector512.FusedMultiplyAdd(four, s2, s1); y3 = Vector512.FusedMultiplyAdd(eight, d2, d1);
            s1 = b1 + b2; d1 = b1 - b2; s2 = b3 + b4; d2 = b3 - b4;
            y4 = s1 + s2; y5 = Vector512.FusedMultiplyAdd(two, d2, d1); y6 = Vector512.FusedMultiplyAdd(four, s2, s1); y7 = Vector512.FusedMultiplyAdd(eight, d2, d1);
            s1 = c1 + c2; d1 = c1 - c2; s2 = c3 + c4; d2 = c3 - c4;
            y8 = s1 + s2; y9 = Vector512.FusedMultiplyAdd(two, d2, d1);
        }
        {
            // points 0, 1/2, -1/2, infinity (j = 0, 5, 6, 7)
            float* p5 = v + 5 * point, p6 = v + 6 * point, p7 = v + 7 * point;
            Vector512<float> a0 = default, a5 = default, a6 = default, a7 = default, b0 = default, b5 = default, b6 = default, b7 = default;
            Vector512<float> c0 = default, c7 = default;
            for (int row = 0; row < rows; row++)
            {
                nint o = offsets[row], ob = o + tileStride, oc = ob + tileStride;
                float* ur = u4 + (nint)row * Step;
                var u = Vector512.Load(ur);
                a0 = Vector512.FusedMultiplyAdd(u, Vector512.Create(v[o]), a0);
                b0 = Vector512.FusedMultiplyAdd(u, Vector512.Create(v[ob]), b0);
                c0 = Vector512.FusedMultiplyAdd(u, Vector512.Create(v[oc]), c0);
                u = Vector512.Load(ur + 5 * ChannelVector);
                a5 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p5[o]), a5);
                b5 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p5[ob]), b5);
                u = Vector512.Load(ur + 6 * ChannelVector);
                a6 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p6[o]), a6);
                b6 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p6[ob]), b6);
                u = Vector512.Load(ur + 7 * ChannelVector);
                a7 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p7[o]), a7);
                b7 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p7[ob]), b7);
                c7 = Vector512.FusedMultiplyAdd(u, Vector512.Create(p7[oc]), c7);
            }
            // y0 += m0 + s3, y1 += d3/2, y2 += s3/4, y3 += d3/8 + m7 (s3, d3 = m5 +- m6); the F(2, 5) tile's outputs
            // take m0 and m7
            var half = Vector512.Create(0.5f);
            var quarter = Vector512.Create(0.25f);
            var eighth = Vector512.Create(0.125f);
            var s3 = a5 + a6; var d3 = a5 - a6;
            y0 += a0 + s3; y1 = Vector512.FusedMultiplyAdd(half, d3, y1);
            y2 = Vector512.FusedMultiplyAdd(quarter, s3, y2); y3 += Vector512.FusedMultiplyAdd(eighth, d3, a7);
            s3 = b5 + b6; d3 = b5 - b6;
            y4 += b0 + s3; y5 = Vector512.FusedMultiplyAdd(half, d3, y5);
            y6 = Vector512.FusedMultiplyAdd(quarter, s3, y6); y7 += Vector512.FusedMultiplyAdd(eighth, d3, b7);
            y8 += c0; y9 += c7;
        }
        StoreTile(tile, bias, y0, y1, y2, y3, y4, y5, y6, y7, y8, y9);
    }
}
