using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Legend as in Conv2d.cs; RS = R*S taps, T = RS*Cg. Hp x Wp: the rows and columns of the zero-padded input that the
// taps read, Hp = (P-1)*strideH + dilationH*(R-1) + 1 (Wp likewise). xT: one group of a block of images channels-last,
// xT[n, hp, wp, c] = x[n, g*Cg + c, hp - top, wp - left] (0 outside the input). D (T x Kg): the weight gradient of one
// group with its rows in tap-major order, D[(r*S + s)*Cg + c, k] = dW[g*Kg + k, c, r, s].

/// <summary>
/// The weight gradient through channels-last input, per group the GEMM
/// D (T x Kg) = columns (T x NPQ) * dY_g^T (NPQ x Kg), summed over the pixels of the batch. With x channels-last, row
/// (r, s, c) of the column matrix at pixel (n, p, q) is xT[n, p*strideH + r*dH, q*strideW + s*dW, c]: for a fixed tap
/// the Cg rows are one contiguous run of xT per pixel, so a micro-panel of A (kc pixels x mr rows) packs as kc short
/// copies, and x is transposed once instead of once per tap. B, the transposed gradient, is packed once per block of
/// pixels and read by every panel of A. The whole of T is one GEMM's M (ResNet's T = 9*Cg fills 12-row panels
/// exactly, as its Kg fills 32-column ones), and D is transposed into dW at the end.
/// <para>Determinism: the pixels are cut into stages of whole images and each stage into reduction blocks of at most
/// <see cref="KcMax"/> pixels, all fixed by the geometry; every element of D is the sum of its block sums in block
/// order (the first block stored, the later ones added), whichever thread ran its panel.</para>
/// </summary>
internal static unsafe class ChannelsLastWeightGradient
{
    /// <summary>Most pixels per reduction block (an A micro-panel of 12 x 512 floats is 24 KB, inside L1).</summary>
    internal const int KcMax = 512;

    /// <summary>Most floats of xT, and of packed gradients, per stage of images (4 MB each).</summary>
    private const long StageFloats = 1 << 20;

    /// <summary>Gradient panels per packing chunk.</summary>
    private const int PackGroup = 4;

    /// <summary>Channels of dW per chunk of the final transpose.</summary>
    private const int TransposeChannels = 8;

    /// <summary>xT of one stage and the packed gradients of one stage (the calling thread's, read by all).</summary>
    [ThreadStatic] private static AlignedScratch? t_inputs, t_gradients;

    /// <summary>One A micro-panel (each thread's own).</summary>
    [ThreadStatic] private static AlignedScratch? t_panel;

    /// <summary>The sizes of one weight gradient, fixed by the geometry and the kernel width.</summary>
    private readonly struct Plan
    {
        public readonly Conv2dGeometry G;
        public readonly int Kg, Cg, RS, T, P, Q, PQ, Hp, Wp, Mr, Nr, Ldc, Images;
        public readonly bool Wide, Vector;

        public Plan(in Conv2dGeometry g)
        {
            G = g;
            Kg = g.OutChannelsPerGroup;
            Cg = g.InChannelsPerGroup;
            RS = g.Kernel.Height * g.Kernel.Width;
            T = RS * Cg;
            P = g.OutHeight;
            Q = g.OutWidth;
            PQ = P * Q;
            Hp = (P - 1) * g.Stride.Height + g.Dilation.Height * (g.Kernel.Height - 1) + 1;
            Wp = (Q - 1) * g.Stride.Width + g.Dilation.Width * (g.Kernel.Width - 1) + 1;
            Wide = GemmKernels.Use512;
            // the 16-wide copies and transposes are AVX-512; a forced 256-bit run takes the scalar copies too
            Vector = Avx512F.IsSupported && Wide;
            Mr = Wide ? GemmKernels.Mr512 : GemmKernels.Mr256;
            Nr = Wide ? GemmKernels.Nr512 : GemmKernels.Nr256;
            Ldc = GemmDriver.CeilDiv(Kg, Nr) * Nr;
            long perImage = Math.Max((long)Hp * Wp * Cg, (long)PQ * Ldc);
            Images = (int)Math.Clamp(StageFloats / perImage, 1, g.Batch);
        }

        public long InputFloats => (long)Images * Hp * Wp * Cg;
        public long GradientFloats => (long)Images * PQ * Ldc;
        public int APanels => GemmDriver.CeilDiv(T, Mr);
        public int BPanels => Ldc / Nr;

        /// <summary>Reduction blocks of a stage of <paramref name="pixels"/> pixels, and where block b starts.</summary>
        public static int Blocks(int pixels) => GemmDriver.CeilDiv(pixels, KcMax);

        public static int BlockStart(int pixels, int blocks, int b) => (int)((long)b * pixels / blocks);
    }

    /// <summary>
    /// dW (G x Kg x Cg x R x S) = the weight gradient of x and dY (overwritten); <paramref name="d"/> is scratch of at
    /// least T * Ldc floats (<see cref="ScratchFloats"/>).
    /// </summary>
    public static void Run(in Conv2dGeometry g, float* x, float* dY, float* dW, float* d, WorkerPool pool)
    {
        var plan = new Plan(g);
        float* inputs = Scratch(ref t_inputs, plan.InputFloats);
        float* gradients = Scratch(ref t_gradients, plan.GradientFloats);
        int regions = pool.Threads == 1 ? 1 : Math.Min(plan.APanels, 4 * pool.Threads);
        nint inImage = (nint)g.InChannels * g.InHeight * g.InWidth, outImage = (nint)g.OutChannels * plan.PQ;
        for (int grp = 0; grp < g.Groups; grp++)
        {
            float* xg = x + (nint)grp * plan.Cg * g.InHeight * g.InWidth, dyg = dY + (nint)grp * plan.Kg * plan.PQ;
            for (int n0 = 0; n0 < g.Batch; n0 += plan.Images)
            {
                int images = Math.Min(plan.Images, g.Batch - n0), pixels = images * plan.PQ, blocks = Plan.Blocks(pixels);
                int rowChunks = images * plan.Hp, packChunks = blocks * GemmDriver.CeilDiv(plan.BPanels, PackGroup);
                // xT of images [n0, n0 + images), and dY_g^T of their pixels packed into B panels, block after block
                var stage = new DenseSource(dyg, plan.PQ, kMajor: false, segment: plan.PQ, segmentStride: outImage, first: n0 * plan.PQ);
                pool.For(rowChunks + packChunks, (plan, (nint)(xg + n0 * inImage), inImage, (nint)inputs, stage, (nint)gradients, rowChunks, pixels, blocks),
                    static (s, chunk) =>
                    {
                        var (plan, xAt, inImage, inputsAt, stage, gradientsAt, rowChunks, pixels, blocks) = s;
                        if (chunk < rowChunks) TransposeRow(plan, (float*)xAt, inImage, (float*)inputsAt, chunk / plan.Hp, chunk % plan.Hp);
                        else PackGradients(plan, stage, (float*)gradientsAt, pixels, blocks, chunk - rowChunks);
                    });
                // D (+)= columns * dY_g^T over the stage, a region of A panels per chunk
                bool first = n0 == 0;
                pool.For(regions, (plan, (nint)inputs, (nint)gradients, (nint)d, pixels, blocks, regions, first), static (s, region) =>
                {
                    var (plan, inputsAt, gradientsAt, dAt, pixels, blocks, regions, first) = s;
                    int p0 = (int)((long)region * plan.APanels / regions), p1 = (int)((long)(region + 1) * plan.APanels / regions);
                    Region(plan, (float*)inputsAt, (float*)gradientsAt, (float*)dAt, pixels, blocks, p0, p1, first);
                });
            }
            // dW_g[k, c, r, s] = D[(r*S + s)*Cg + c, k]
            float* dwg = dW + (nint)grp * plan.Kg * plan.T;
            pool.For(GemmDriver.CeilDiv(plan.Cg, TransposeChannels), (plan, (nint)d, (nint)dwg), static (s, chunk) =>
            {
                var (plan, dAt, dwAt) = s;
                int c0 = chunk * TransposeChannels;
                for (int c = c0; c < Math.Min(plan.Cg, c0 + TransposeChannels); c++) TransposeChannel(plan, (float*)dAt, (float*)dwAt, c);
            });
        }
    }

    /// <summary>Floats of D scratch <see cref="Run"/> needs for <paramref name="g"/>.</summary>
    public static int ScratchFloats(in Conv2dGeometry g)
    {
        var plan = new Plan(g);
        return plan.T * plan.Ldc;
    }

    /// <summary>
    /// Rows [p0*mr, p1*mr) of D over one stage: per reduction block, each A panel packed from xT and multiplied by every
    /// B panel of the block (the block's packed gradients stay in L2 across the region's panels).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Region(in Plan plan, float* inputs, float* gradients, float* d, int pixels, int blocks, int p0, int p1, bool firstStage)
    {
        float* panel = Scratch(ref t_panel, (long)plan.Mr * KcMax);
        for (int b = 0; b < blocks; b++)
        {
            int k0 = Plan.BlockStart(pixels, blocks, b), kc = Plan.BlockStart(pixels, blocks, b + 1) - k0;
            bool add = !firstStage || b > 0;
            float* block = gradients + (nint)k0 * plan.Ldc;
            for (int i = p0; i < p1; i++)
            {
                int row0 = i * plan.Mr, rows = Math.Min(plan.Mr, plan.T - row0);
                PackTaps(plan, inputs, k0, kc, row0, rows, panel);
                float* target = d + (nint)row0 * plan.Ldc;
                for (int j = 0; j < plan.BPanels; j++)
                {
                    // D[rows of panel i, columns of panel j] (+)= A_i^T (rows x kc) * B_j (kc x nr)
                    if (plan.Wide) GemmKernels.Kernel512(kc, panel, block + (nint)j * kc * plan.Nr, target + j * plan.Nr, plan.Ldc, add, rows);
                    else GemmKernels.Kernel256(kc, panel, block + (nint)j * kc * plan.Nr, target + j * plan.Nr, plan.Ldc, add, rows);
                }
            }
        }
    }

    /// <summary>
    /// The A micro-panel of rows [row0, row0 + rows) of the column matrix over pixels [k0, k0 + kc) of the stage:
    /// panel[k * mr + l] = xT[pixel k0 + k, tap and channel of row row0 + l], 0 for l &gt;= rows. The rows split into
    /// runs of one tap (consecutive channels, contiguous in xT); each pixel copies its runs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTaps(in Plan plan, float* inputs, int k0, int kc, int row0, int rows, float* panel)
    {
        var g = plan.G;
        int mr = plan.Mr, cg = plan.Cg;
        // run u: lanes [lane[u], lane[u] + count[u]) of the panel from xT offset offset[u] past the pixel's window corner
        int* lane = stackalloc int[GemmKernels.Mr512];
        int* count = stackalloc int[GemmKernels.Mr512];
        nint* offset = stackalloc nint[GemmKernels.Mr512];
        int runs = 0;
        for (int l = 0; l < rows;)
        {
            int row = row0 + l, tap = row / cg, c = row % cg, len = Math.Min(rows - l, cg - c);
            int r = tap / g.Kernel.Width, s = tap % g.Kernel.Width;
            lane[runs] = l;
            count[runs] = len;
            offset[runs] = ((nint)r * g.Dilation.Height * plan.Wp + (nint)s * g.Dilation.Width) * cg + c;
            runs++;
            l += len;
        }
        int n = k0 / plan.PQ, p = k0 % plan.PQ / plan.Q, q = k0 % plan.Q;
        nint step = (nint)g.Stride.Width * cg;
        float* corner = inputs + (((nint)n * plan.Hp + (nint)p * g.Stride.Height) * plan.Wp + (nint)q * g.Stride.Width) * cg;
        if (plan.Vector && runs == 1)
        {
            // one tap: a masked load of the run and a store of the whole panel row (zero past rows)
            var load = Mask(rows);
            var store = Mask(mr);
            nint at = offset[0];
            for (int k = 0; k < kc; k++)
            {
                Avx512F.MaskStore(panel + (nint)k * mr, store, Avx512F.MaskLoad(corner + at, load, Vector512<float>.Zero));
                corner += step;
                if (++q == plan.Q) corner = NextRow(plan, inputs, ref n, ref p, ref q);
            }
            return;
        }
        for (int k = 0; k < kc; k++)
        {
            float* row = panel + (nint)k * mr;
            for (int u = 0; u < runs; u++) PanelCopy.Copy(row + lane[u], corner + offset[u], count[u]);
            if (rows < mr) PanelCopy.Zero(row + rows, mr - rows);
            corner += step;
            if (++q == plan.Q) corner = NextRow(plan, inputs, ref n, ref p, ref q);
        }
    }

    /// <summary>Moves to the first pixel of the next output row (q was Q) and returns its window corner in xT.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* NextRow(in Plan plan, float* inputs, ref int n, ref int p, ref int q)
    {
        q = 0;
        if (++p == plan.P)
        {
            p = 0;
            n++;
        }
        return inputs + ((nint)n * plan.Hp + (nint)p * plan.G.Stride.Height) * plan.Wp * plan.Cg;
    }

    /// <summary>A lane mask with the first <paramref name="count"/> lanes set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Mask(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>
    /// Chunk of the gradient packing: a few B panels of one reduction block, B_j[k, jj] = dY_g[image, j*nr + jj, pixel
    /// k0 + k] (0 past Kg), block b's panels starting at its first pixel times Ldc.
    /// </summary>
    private static void PackGradients(in Plan plan, DenseSource stage, float* gradients, int pixels, int blocks, int chunk)
    {
        int groups = GemmDriver.CeilDiv(plan.BPanels, PackGroup), b = chunk / groups, t0 = chunk % groups * PackGroup;
        int k0 = Plan.BlockStart(pixels, blocks, b), kc = Plan.BlockStart(pixels, blocks, b + 1) - k0;
        int j0 = t0 * plan.Nr;
        stage.Pack(gradients + (nint)k0 * plan.Ldc + (nint)j0 * kc, k0, kc, j0, Math.Min(PackGroup * plan.Nr, plan.Kg - j0), plan.Nr);
    }

    /// <summary>
    /// Row hp of image j of xT: x[j, c, hp - top, wp - left] at [wp, c] for the Wp columns and Cg channels (0 in the
    /// padding), transposed 16 channels x 16 columns at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeRow(in Plan plan, float* x, nint inImage, float* inputs, int j, int hp)
    {
        var g = plan.G;
        int cg = plan.Cg, h = hp - g.Padding.Top, left = Math.Min(g.Padding.Left, plan.Wp);
        float* row = inputs + ((nint)j * plan.Hp + hp) * plan.Wp * cg;
        if ((uint)h >= (uint)g.InHeight)
        {
            new Span<float>(row, plan.Wp * cg).Clear();
            return;
        }
        int width = Math.Clamp(plan.Wp - left, 0, g.InWidth);
        new Span<float>(row, left * cg).Clear();
        new Span<float>(row + (nint)(left + width) * cg, (plan.Wp - left - width) * cg).Clear();
        nint hw = (nint)g.InHeight * g.InWidth;
        float* source = x + j * inImage + (nint)h * g.InWidth;
        float* target = row + (nint)left * cg;
        if (!plan.Vector)
        {
            for (int c = 0; c < cg; c++)
                for (int w = 0; w < width; w++) target[(nint)w * cg + c] = source[c * hw + w];
            return;
        }
        var one = Vector512<float>.One;
        float* tile = stackalloc float[16 * 16];
        float* transposed = stackalloc float[16 * 16];
        for (int c0 = 0; c0 < cg; c0 += 16)
        {
            int channels = Math.Min(16, cg - c0);
            for (int w0 = 0; w0 < width; w0 += 16)
            {
                int columns = Math.Min(16, width - w0);
                float* from = source + c0 * hw + w0, to = target + (nint)w0 * cg + c0;
                if (columns == 16)
                {
                    PanelTranspose.Block16(from, hw, channels, one, to, cg);
                    continue;
                }
                // the row's last columns: through a 16 x 16 tile so nothing past the row is read or written
                for (int i = 0; i < channels; i++) PanelCopy.Copy(tile + i * 16, from + i * hw, columns);
                PanelTranspose.Block16(tile, 16, channels, one, transposed, 16);
                for (int w = 0; w < columns; w++) PanelCopy.Copy(to + (nint)w * cg, transposed + w * 16, channels);
            }
        }
    }

    /// <summary>dW_g[k, c, r, s] = D[(r*S + s)*Cg + c, k] for every k, r, s of channel c: 16 k x up to 16 taps per transpose.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeChannel(in Plan plan, float* d, float* dW, int c)
    {
        int rs = plan.RS, kg = plan.Kg;
        nint ld = (nint)plan.Cg * plan.Ldc, crs = plan.T;
        if (!plan.Vector)
        {
            for (int k = 0; k < kg; k++)
                for (int t = 0; t < rs; t++) dW[k * crs + (nint)c * rs + t] = d[t * ld + (nint)c * plan.Ldc + k];
            return;
        }
        var one = Vector512<float>.One;
        float* tail = stackalloc float[16 * 16];
        for (int t0 = 0; t0 < rs; t0 += 16)
        {
            int taps = Math.Min(16, rs - t0);
            // destination[kk * crs + i] = D[(t0 + i)*Cg + c, k0 + kk] (D's rows are Ldc >= k0 + 16 floats long)
            float* from = d + t0 * ld + (nint)c * plan.Ldc, to = dW + (nint)c * rs + t0;
            int k0 = 0;
            for (; k0 + 16 <= kg; k0 += 16) PanelTranspose.Block16(from + k0, ld, taps, one, to + k0 * crs, (int)crs);
            if (k0 == kg) continue;
            PanelTranspose.Block16(from + k0, ld, taps, one, tail, 16);
            for (int k = k0; k < kg; k++) PanelCopy.Copy(to + k * crs, tail + (k - k0) * 16, taps);
        }
    }

    private static float* Scratch(ref AlignedScratch? slot, long length)
    {
        if (slot is null || slot.Length < length) slot = new AlignedScratch(length);
        return slot.Pointer;
    }
}

public sealed partial class CpuBackend
{
    /// <summary>
    /// Fewest input channels per group for <see cref="ChannelsLastWeightGradient"/> (below it a panel row is many
    /// short runs); tests set 1 to send every non-pointwise convolution there, or int.MaxValue to keep it off.
    /// </summary>
    internal static int ChannelsLastWeightMinChannels { get; set; } = DefaultChannelsLastWeightMinChannels;

    internal const int DefaultChannelsLastWeightMinChannels = 8;

    private static bool UseChannelsLastWeightGradient(in Conv2dGeometry g) =>
        g.InChannelsPerGroup >= ChannelsLastWeightMinChannels && !IsPointwise(g);

    /// <summary>dW (overwritten) through <see cref="ChannelsLastWeightGradient"/>, its D scratch rented for the call.</summary>
    private unsafe void Conv2dBackwardWeightChannelsLast(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dW)
    {
        var scratch = Rent(ChannelsLastWeightGradient.ScratchFloats(g));
        try
        {
            fixed (float* px = Array(x), pdy = Array(dY), pdw = Array(dW), pd = scratch)
                ChannelsLastWeightGradient.Run(g, px, pdy, pdw, pd, _workers);
        }
        finally
        {
            Return(scratch);
        }
    }
}
