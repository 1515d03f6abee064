using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// Legend as in Conv2d.cs; RS = R*S taps, T = RS*Cg. Hp x Wp: the rows and columns of the zero-padded input that the
// taps read, Hp = (P-1)*strideH + dilationH*(R-1) + 1 (Wp likewise). Channel blocks: the Cg channels in blocks of
// CB = mr (the last one shorter). xT: one group of a stage of images channels-last, channel block by channel block:
// block β holds xT_β[n, hp, wp, c'] = x[n, g*Cg + β*CB + c', hp - top, wp - left] (0 outside the input) for
// c' < width(β), starting at β * (images per stage)*Hp*Wp*CB. D (T x Kg): the weight gradient of one group with its
// rows in the order (channel block, tap, channel), D[rowOf(block) + (r*S + s)*width(block) + c - block*CB, k] =
// dW[g*Kg + k, c, r, s].

/// <summary>
/// The weight gradient through channels-last input, per group the GEMM
/// D (T x Kg) = columns (T x NPQ) * dY_g^T (NPQ x Kg), summed over the pixels of the batch. With x channels-last, row
/// (tap, c) of the column matrix at pixel (n, p, q) is xT_β[n, p*strideH + r*dH, q*strideW + s*dW, c - β*CB]: a
/// micro-panel of A (kc pixels x mr rows: one tap of a full channel block) is, at stride 1, one contiguous copy per
/// output row (the block's pixels are mr floats each, one after another), and x is transposed once instead of once per
/// tap. B, the transposed gradient, is packed once per block of pixels and read by every panel of A.
/// T is the GEMM's M (ResNet's T = 9*Cg fills 12-row panels exactly, as its Kg fills 32-column ones).
/// Two ways to dW, chosen by the size of D alone: a large D (at least <see cref="LocalMinFloats"/>) is never held
/// whole: per stage, each chunk (the rows of D of a group of channel blocks, all or a slab of its columns) sums the
/// stage into a per-thread copy and transposes it into dW, stored by the first stage and added by the later ones;
/// a small D is held in full across the stages and transposed at the end.
/// <para>Scratch (each thread at most 8 MB while this runs; see ScratchBoundTests): the calling thread's stage
/// (xT and the packed gradients, at most <see cref="StageFloats"/>) and, for a small D, D itself (under
/// <see cref="LocalMinFloats"/>); every thread's A panel, chunk of D (at most <see cref="ChunkMaxFloats"/>) and strip
/// of dW rows (16 x 12 x RS floats).</para>
/// <para>Determinism: the pixels are cut into stages of whole images and each stage into reduction blocks of at most
/// <see cref="KcMax"/> pixels, all fixed by the geometry; every element of D is the sum of its block sums in block
/// order (the first block stored, the later ones added), whichever thread ran its panel, and for a large D every
/// element of dW the sum of its stage sums in stage order.</para>
/// </summary>
internal static unsafe partial class ChannelsLastWeightGradient
{
    /// <summary>Most pixels per reduction block (an A micro-panel of 12 x 512 floats is 24 KB, inside L1).</summary>
    internal const int KcMax = 512;

    /// <summary>Most floats of xT and the packed gradients together per stage of images (6 MB). Tests lower it.</summary>
    internal static long StageFloats { get; set; } = DefaultStageFloats;

    internal const long DefaultStageFloats = 3 << 19;

    /// <summary>
    /// Fewest floats of D (1 MB) for which each chunk of D goes to dW from a per-thread copy instead of D being held
    /// in full (which would go out to memory and come back, and take scratch that grows with the weights).
    /// </summary>
    private const long LocalMinFloats = 1 << 18;

    /// <summary>
    /// Most floats of one chunk's copy of D (1 MB): as many channel blocks per chunk as fit (each reduction block of
    /// packed gradients is read once per chunk, so more rows per chunk read it less often), wider ones split their columns.
    /// </summary>
    private const long ChunkMaxFloats = 1 << 18;

    /// <summary>Floats past the end of xT and of an A panel that a 16-float pixel copy may read or write.</summary>
    private const int Slack = 16;

    /// <summary>Fewest pixels per output row for reading A panels in place (<see cref="TapRunKernel"/>).</summary>
    private const int RunMinPixels = 8;

    /// <summary>Whether full one-tap panels may be read in place; tests turn it off to compare with packed panels (same bits).</summary>
    internal static bool InPlaceRuns { get; set; } = true;

    /// <summary>Most runs of one A panel read in place: one per output row the reduction block touches.</summary>
    private const int MaxRuns = KcMax / RunMinPixels + 2;

    /// <summary>Gradient panels per packing chunk.</summary>
    private const int PackGroup = 4;

    /// <summary>xT of one stage, then the packed gradients of the stage (the calling thread's, read by all).</summary>
    [ThreadStatic] private static AlignedScratch? t_stage;

    /// <summary>A small D of one group in full (T x Ldc, under <see cref="LocalMinFloats"/>; the calling thread's).</summary>
    [ThreadStatic] private static AlignedScratch? t_whole;

    /// <summary>One A micro-panel, one chunk of D, and a strip of dW rows (each thread's own).</summary>
    [ThreadStatic] private static AlignedScratch? t_panel, t_block, t_strip;

    /// <summary>The sizes of one weight gradient, fixed by the geometry and the kernel width.</summary>
    private readonly struct Plan
    {
        public readonly Conv2dGeometry G;
        public readonly int Kg, Cg, RS, T, P, Q, PQ, Hp, Wp, Mr, Nr, Ldc, Images, CB;
        public readonly long PerImage;
        public readonly bool Wide, Vector, Runs;

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
            // the 16-wide copies and transposes are AVX-512; a 256-bit run takes the scalar copies
            Vector = Wide;
            // full one-tap panels read in place from xT (TapRunKernel) at stride 1 with rows long enough
            Runs = Vector && g.Stride.Width == 1 && GemmKernels.Mr512 == TapRunKernel.Mr && Q >= RunMinPixels && InPlaceRuns;
            Mr = Wide ? GemmKernels.Mr512 : GemmKernels.Mr256;
            Nr = Wide ? GemmKernels.Nr512 : GemmKernels.Nr256;
            CB = Mr;
            Ldc = GemmDriver.CeilDiv(Kg, Nr) * Nr;
            PerImage = (long)Hp * Wp * Cg + (long)PQ * Ldc;
            // as few stages as fit, of near-equal numbers of whole images
            int most = (int)Math.Clamp((StageFloats - InputSlack) / PerImage, 1, g.Batch), stages = GemmDriver.CeilDiv(g.Batch, most);
            Images = GemmDriver.CeilDiv(g.Batch, stages);
        }

        /// <summary>Floats of the stage slot before the packed gradients: xT and its slack, in whole 64-byte lines.</summary>
        public long InputFloats => ((long)Images * Hp * Wp * Cg + Slack + 15) / 16 * 16;

        /// <summary>Where channel block β of xT starts (every earlier block is CB channels wide).</summary>
        public long BlockStart(int block) => (long)block * Images * Hp * Wp * CB;
        public long GradientFloats => (long)Images * PQ * Ldc;
        public int APanels => GemmDriver.CeilDiv(T, Mr);
        public int BPanels => Ldc / Nr;
        public int ChannelBlocks => GemmDriver.CeilDiv(Cg, CB);

        /// <summary>Channels of channel block β, and its first row of D (a multiple of mr).</summary>
        public int Width(int block) => Math.Min(CB, Cg - block * CB);

        public int RowOf(int block) => block * RS * CB;

        /// <summary>Whether D goes to dW chunk by chunk from per-thread copies, stage by stage (see the class summary).</summary>
        public bool Local => (long)T * Ldc >= LocalMinFloats;

        /// <summary>
        /// Chunks of D for <see cref="Local"/>: groups of channel blocks by column slabs. Slabs: as few as keep one
        /// channel block's rows (RS*CB) within <see cref="ChunkMaxFloats"/>; blocks per group: one for a one-stage batch,
        /// else as many as then fit, but at most an eighth of the blocks per thread; then more slabs if there are fewer
        /// than four chunks per thread.
        /// Only who computes an element changes with the chunks, never its arithmetic.
        /// </summary>
        public (int Group, int Parts) Chunks(int threads)
        {
            long blockRows = (long)RS * CB;
            int parts = GemmDriver.CeilDiv(BPanels, (int)Math.Max(1, ChunkMaxFloats / (blockRows * Nr)));
            long slab = (long)GemmDriver.CeilDiv(BPanels, parts) * Nr;
            // one stage: one block per chunk (its packed gradients, one or two reduction blocks, stay in L2 across chunks)
            int most = Images == G.Batch ? 1 : Math.Max(1, ChannelBlocks / (8 * threads));
            int group = (int)Math.Clamp(ChunkMaxFloats / (blockRows * slab), 1, most);
            int groups = GemmDriver.CeilDiv(ChannelBlocks, group);
            if (threads > 1) parts = Math.Min(BPanels, Math.Max(parts, GemmDriver.CeilDiv(4 * threads, groups)));
            return (group, parts);
        }

        /// <summary>Reduction blocks of a stage of <paramref name="pixels"/> pixels, and where block b starts.</summary>
        public static int Blocks(int pixels) => GemmDriver.CeilDiv(pixels, KcMax);

        public static int BlockStart(int pixels, int blocks, int b) => (int)((long)b * pixels / blocks);
    }

    /// <summary>Whether one image fits a stage (so the calling thread's stage stays within <see cref="StageFloats"/>).</summary>
    public static bool Fits(in Conv2dGeometry g) => new Plan(g).PerImage + InputSlack <= StageFloats;

    /// <summary>Floats a stage reserves past xT: its <see cref="Slack"/> and the rounding of the gradients' start to a 64-byte line.</summary>
    private const int InputSlack = 2 * Slack;

    /// <summary>dW (G x Kg x Cg x R x S) = the weight gradient of x and dY (overwritten).</summary>
    public static void Run(in Conv2dGeometry g, float* x, float* dY, float* dW, WorkerPool pool)
    {
        var plan = new Plan(g);
        float* d = plan.Local ? null : Scratch(ref t_whole, (long)plan.T * plan.Ldc);
        for (int grp = 0; grp < g.Groups; grp++) Group(plan, x, dY, dW, d, grp, pool);
    }

    /// <summary>Group grp: stage after stage, xT and the gradient panels, then D; dW_g from D (d null: chunk by chunk, per stage).</summary>
    private static void Group(in Plan plan, float* x, float* dY, float* dW, float* d, int grp, WorkerPool pool)
    {
        var g = plan.G;
        float* inputs = Scratch(ref t_stage, plan.InputFloats + plan.GradientFloats);
        float* gradients = inputs + plan.InputFloats;
        nint inImage = (nint)g.InChannels * g.InHeight * g.InWidth, outImage = (nint)g.OutChannels * plan.PQ;
        float* xg = x + (nint)grp * plan.Cg * g.InHeight * g.InWidth, dyg = dY + (nint)grp * plan.Kg * plan.PQ;
        float* dwg = dW + (nint)grp * plan.Kg * plan.T;
        for (int n0 = 0; n0 < g.Batch; n0 += plan.Images)
        {
            int images = Math.Min(plan.Images, g.Batch - n0), pixels = images * plan.PQ, blocks = Plan.Blocks(pixels);
            int rowChunks = images * plan.Hp, packChunks = blocks * GemmDriver.CeilDiv(plan.BPanels, PackGroup);
            // xT of images [n0, n0 + images), and dY_g^T of their pixels packed into B panels, block after block
            var stage = new DenseSource(dyg, plan.PQ, kMajor: false, segment: plan.PQ, segmentStride: outImage, first: n0 * plan.PQ);
            pool.For(rowChunks + packChunks, (plan, (nint)(xg + n0 * inImage), inImage, (nint)(x + g.Batch * inImage), (nint)inputs, stage, (nint)gradients, rowChunks, pixels, blocks),
                static (s, chunk) =>
                {
                    var (plan, xAt, inImage, xEnd, inputsAt, stage, gradientsAt, rowChunks, pixels, blocks) = s;
                    if (chunk < rowChunks) TransposeRow(plan, (float*)xAt, inImage, (float*)xEnd, (float*)inputsAt, chunk / plan.Hp, chunk % plan.Hp);
                    else PackGradients(plan, stage, (float*)gradientsAt, pixels, blocks, chunk - rowChunks);
                });
            var state = (plan, (nint)inputs, (nint)gradients, (nint)d, (nint)dwg, pixels, blocks, n0 == 0);
            if (d is null)
            {
                // the stage's sums of each chunk (the rows of a group of channel blocks, a slab of columns) in a
                // per-thread copy, then into dW_g: stored by the first stage, added by the later ones
                var (group, parts) = plan.Chunks(pool.Threads);
                pool.For(GemmDriver.CeilDiv(plan.ChannelBlocks, group) * parts, (state, group, parts), static (s, chunk) =>
                {
                    var ((plan, inputsAt, gradientsAt, _, dwAt, pixels, blocks, firstStage), group, parts) = s;
                    int b0 = chunk / parts * group, b1 = Math.Min(plan.ChannelBlocks, b0 + group), part = chunk % parts;
                    int j0 = part * plan.BPanels / parts, j1 = (part + 1) * plan.BPanels / parts, ld = (j1 - j0) * plan.Nr;
                    float* rows = Scratch(ref t_block, (long)group * plan.RS * plan.CB * ld);
                    // rows of blocks [b0, b1): every block but the last of all is RS*CB rows, a whole number of panels
                    int first = plan.RowOf(b0), end = plan.RowOf(b1 - 1) + plan.RS * plan.Width(b1 - 1);
                    Panels(plan, (float*)inputsAt, (float*)gradientsAt, rows - (nint)first * ld, ld, pixels, blocks,
                        first / plan.Mr, GemmDriver.CeilDiv(end, plan.Mr), j0, j1, true);
                    for (int block = b0; block < b1; block++)
                        TransposeBlock(plan, rows + (nint)(plan.RowOf(block) - first) * ld, ld, (float*)dwAt, block,
                            j0 * plan.Nr, Math.Min(j1 * plan.Nr, plan.Kg), !firstStage);
                });
                continue;
            }
            // D (+)= columns * dY_g^T over the stage, a range of A panels per chunk
            int regions = pool.Threads == 1 ? 1 : Math.Min(plan.APanels, 4 * pool.Threads);
            pool.For(regions, (state, regions), static (s, region) =>
            {
                var ((plan, inputsAt, gradientsAt, dAt, _, pixels, blocks, firstStage), regions) = s;
                int p0 = (int)((long)region * plan.APanels / regions), p1 = (int)((long)(region + 1) * plan.APanels / regions);
                Panels(plan, (float*)inputsAt, (float*)gradientsAt, (float*)dAt, plan.Ldc, pixels, blocks, p0, p1, 0, plan.BPanels, firstStage);
            });
        }
        if (d is null) return;
        pool.For(plan.ChannelBlocks, (plan, (nint)d, (nint)dwg), static (s, block) =>
        {
            var (plan, dAt, dwAt) = s;
            TransposeBlock(plan, (float*)dAt + (nint)plan.RowOf(block) * plan.Ldc, plan.Ldc, (float*)dwAt, block, 0, plan.Kg, false);
        });
    }

    /// <summary>
    /// Rows [p0*mr, p1*mr) and the columns of B panels [j0, j1) of D over one stage, element (i, j*nr + jj) at
    /// d + i*ld + (j - j0)*nr + jj: per reduction block, each A panel packed from xT (or read in place,
    /// <see cref="TapRuns"/>) and multiplied by those B panels of the block (the block's packed gradients stay in L2
    /// across the panels).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panels(in Plan plan, float* inputs, float* gradients, float* d, int ld, int pixels, int blocks,
        int p0, int p1, int j0, int j1, bool firstStage)
    {
        float* panel = Scratch(ref t_panel, (long)plan.Mr * KcMax + Slack);
        float** starts = stackalloc float*[MaxRuns];
        int* lengths = stackalloc int[MaxRuns];
        for (int b = 0; b < blocks; b++)
        {
            int k0 = Plan.BlockStart(pixels, blocks, b), kc = Plan.BlockStart(pixels, blocks, b + 1) - k0;
            bool add = !firstStage || b > 0;
            float* block = gradients + (nint)k0 * plan.Ldc;
            for (int i = p0; i < p1; i++)
            {
                int row0 = i * plan.Mr, rows = Math.Min(plan.Mr, plan.T - row0);
                int runs = plan.Runs ? TapRuns(plan, inputs, k0, kc, row0, rows, starts, lengths) : 0;
                if (runs > 0)
                {
                    // D[rows of panel i, columns of panel j] (+)= A_i^T (12 x kc, in place) * B_j (kc x 32)
                    for (int j = j0; j < j1; j++)
                        TapRunKernel.Kernel512(runs, starts, lengths, block + (nint)j * kc * plan.Nr, d + (nint)row0 * ld + (j - j0) * plan.Nr, ld, add);
                    continue;
                }
                PackTaps(plan, inputs, k0, kc, row0, rows, panel);
                float* target = d + (nint)row0 * ld - (nint)j0 * plan.Nr;
                for (int j = j0; j < j1; j++)
                {
                    // D[rows of panel i, columns of panel j] (+)= A_i^T (rows x kc) * B_j (kc x nr)
                    if (plan.Wide) GemmKernels.Kernel512(kc, panel, block + (nint)j * kc * plan.Nr, target + j * plan.Nr, ld, add, rows);
                    else GemmKernels.Kernel256(kc, panel, block + (nint)j * kc * plan.Nr, target + j * plan.Nr, ld, add, rows);
                }
            }
        }
    }

    /// <summary>
    /// The A micro-panel of rows [row0, row0 + rows) of the column matrix over pixels [k0, k0 + kc) of the stage:
    /// panel[k * mr + l] = xT_β[pixel k0 + k, tap and channel of row row0 + l], 0 for l &gt;= rows (the rows lie in one
    /// channel block β, since blocks start at multiples of mr). The rows split into runs of one tap (consecutive
    /// channels, contiguous in xT_β); each pixel copies its runs. One tap of a full block at stride 1: the panel rows of
    /// the pixels of one output row are one contiguous run of xT_β.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTaps(in Plan plan, float* inputs, int k0, int kc, int row0, int rows, float* panel)
    {
        var g = plan.G;
        int mr = plan.Mr, block = row0 / (plan.RS * plan.CB), width = plan.Width(block), first = row0 - plan.RowOf(block);
        // run u: lanes [lane[u], lane[u] + count[u]) of the panel from xT_β offset offset[u] past the pixel's window corner
        int* lane = stackalloc int[GemmKernels.Mr512];
        int* count = stackalloc int[GemmKernels.Mr512];
        nint* offset = stackalloc nint[GemmKernels.Mr512];
        int runs = 0;
        for (int l = 0; l < rows;)
        {
            // row (β, tap, c) of D; a run goes on while the tap stays
            int within = first + l, tap = within / width, c = within % width, len = Math.Min(rows - l, width - c);
            int r = tap / g.Kernel.Width, s = tap % g.Kernel.Width;
            lane[runs] = l;
            count[runs] = len;
            offset[runs] = ((nint)r * g.Dilation.Height * plan.Wp + (nint)s * g.Dilation.Width) * width + c;
            runs++;
            l += len;
        }
        nint step = (nint)g.Stride.Width * width;
        var pixels = new OutputRows(plan, inputs + plan.BlockStart(block), k0, width);
        // one tap and a full panel (so width = mr): at stride 1 the pixels of an output row are one run of xT_β; else
        // each pixel one 16-float copy (the 4 floats past the run land in the next pixel's row, or in the scratch's
        // slack, and xT has slack to read)
        bool whole = runs == 1 && rows == mr, contiguous = whole && g.Stride.Width == 1;
        for (int k = 0; k < kc; pixels.Next())
        {
            // pixels [k, k + len) lie in one output row
            int len = Math.Min(kc - k, plan.Q - pixels.Q);
            float* from = pixels.Start + pixels.Q * step, to = panel + (nint)k * mr;
            if (contiguous) PanelCopy.Copy(to, from + offset[0], len * mr);
            else if (whole && plan.Vector) CopyPixels(to, mr, from + offset[0], step, len);
            else
                for (int i = 0; i < len; i++, from += step, to += mr)
                {
                    for (int u = 0; u < runs; u++) PanelCopy.Copy(to + lane[u], from + offset[u], count[u]);
                    if (rows < mr) PanelCopy.Zero(to + rows, mr - rows);
                }
            k += len;
        }
    }

    /// <summary>to[i * mr + l] = from[i * step + l] for i &lt; count and l &lt; 16 (16-float copies, overlapping when mr &lt; 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyPixels(float* to, int mr, float* from, nint step, int count)
    {
        Wide512Meter.Tick(ref Wide512Meter.PanelCopies);
        for (int i = 0; i < count; i++, from += step, to += mr) Vector512.Load(from).Store(to);
    }

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

    private static float* Scratch(ref AlignedScratch? slot, long length) => AlignedScratch.AtLeast(ref slot, length);
}

public sealed partial class CpuBackend
{
    /// <summary>
    /// Fewest input channels per group for <see cref="ChannelsLastWeightGradient"/> (below it a panel row is many
    /// short runs); tests set 1 to send there every non-pointwise convolution whose image fits a stage, or int.MaxValue
    /// to keep it off.
    /// </summary>
    internal static int ChannelsLastWeightMinChannels { get; set; } = DefaultChannelsLastWeightMinChannels;

    internal const int DefaultChannelsLastWeightMinChannels = 8;

    private static bool UseChannelsLastWeightGradient(in Conv2dGeometry g) =>
        g.InChannelsPerGroup >= ChannelsLastWeightMinChannels && !IsPointwise(g) && ChannelsLastWeightGradient.Fits(g);

    /// <summary>dW (overwritten) through <see cref="ChannelsLastWeightGradient"/>.</summary>
    private unsafe void Conv2dBackwardWeightChannelsLast(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dW)
    {
        fixed (float* px = Array(x), pdy = Array(dY), pdw = Array(dW))
            ChannelsLastWeightGradient.Run(g, px, pdy, pdw, _workers);
    }
}
