namespace Engine.Cpu;

// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output, Cg = C/G,
// dH x dW dilation, top/left/bottom/right padding; R' x S' the live part of the kernel, rows r0.. and columns s0..
public sealed partial class CpuBackend
{
    /// <summary>
    /// The kernel rows [r0, r0 + R') and columns [s0, s0 + S') that read the input for at least one output pixel, when
    /// that is less than the whole kernel: every other tap reads only padding (zeros) for every output pixel, so it
    /// adds nothing to y or dX and its weight gradient is zero. <paramref name="live"/> is the same convolution with
    /// only those taps: kernel R' x S', padding top - r0*dH, left - s0*dW, bottom - (R-1-(r0+R'-1))*dH and right
    /// likewise (the same P x Q). ResNet-18 at 32 x 32 pixels runs its layer-4 3x3 convolutions on 1x1 maps, where
    /// only the centre tap is live: a 1x1 convolution, a ninth of the work, no im2col.
    /// </summary>
    internal static bool LiveTaps(in Conv2dGeometry g, out Conv2dGeometry live, out int r0, out int s0)
    {
        live = default;
        bool anyRow = LiveRange(g.InHeight, g.OutHeight, g.Kernel.Height, g.Stride.Height, g.Dilation.Height, g.Padding.Top, out r0, out int rows);
        bool anyCol = LiveRange(g.InWidth, g.OutWidth, g.Kernel.Width, g.Stride.Width, g.Dilation.Width, g.Padding.Left, out s0, out int cols);
        if (!anyRow || !anyCol || rows == g.Kernel.Height && cols == g.Kernel.Width) return false;
        var p = g.Padding;
        var padding = new Padding2d(p.Top - r0 * g.Dilation.Height, p.Left - s0 * g.Dilation.Width,
            p.Bottom - (g.Kernel.Height - r0 - rows) * g.Dilation.Height, p.Right - (g.Kernel.Width - s0 - cols) * g.Dilation.Width);
        if (padding.Top < 0 || padding.Left < 0 || padding.Bottom < 0 || padding.Right < 0) return false;
        live = g with { Kernel = (rows, cols), Padding = padding };
        return live.OutHeight == g.OutHeight && live.OutWidth == g.OutWidth;
    }

    /// <summary>
    /// Along one axis: the first live tap and how many taps from it to the last live one (none: false). Tap t is live
    /// when some output o in [0, outSize) reads i = o*stride - before + t*dilation inside [0, size); the smallest
    /// o with i >= 0 decides it.
    /// </summary>
    private static bool LiveRange(int size, int outSize, int kernel, int stride, int dilation, int before, out int first, out int count)
    {
        first = -1;
        int last = -1;
        for (int t = 0; t < kernel; t++)
        {
            int offset = t * dilation - before, o = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
            if (o >= outSize || o * stride + offset >= size) continue;
            if (first < 0) first = t;
            last = t;
        }
        count = last - first + 1;
        return first >= 0;
    }

    /// <summary>
    /// W'[k, c, r', s'] = W[k, c, r0 + r', s0 + s'] (the live taps, K x Cg x R' x S'), kept on w (<see cref="CpuBuffer.Live"/>)
    /// and gathered again only when w has changed since or the live taps differ: a training step's forward gathers,
    /// its data gradient reads the same copy (the weights are written only by the optimizer after both), and the next
    /// step gathers into the same buffer, so steady steps allocate nothing. The copy is a ninth of the weights for
    /// ResNet-18's layer 4 at 32 x 32 pixels, whose every gather reads all of them (a float of every 36 bytes).
    /// </summary>
    private DeviceBuffer LiveWeightsOf(in Conv2dGeometry g, in Conv2dGeometry live, int r0, int s0, DeviceBuffer w)
    {
        var weights = Cpu(w);
        var kept = weights.Live;
        long version = weights.Version;
        if (kept is not null && kept.Version == version && kept.R0 == r0 && kept.S0 == s0 && kept.Kernel == live.Kernel
            && kept.Buffer.Length == live.WeightShape.Size)
            return kept.Buffer;
        if (kept is null || kept.Buffer.Length != live.WeightShape.Size)
        {
            if (kept is not null) Release(kept.Buffer);
            kept = weights.Live = new LiveWeights(Allocate(live.WeightShape.Size));
        }
        GatherLiveTaps(g, live, r0, s0, weights.ReadArray, Array(kept.Buffer));
        Interlocked.Increment(ref _liveTapGathers);
        (kept.Version, kept.R0, kept.S0, kept.Kernel) = (version, r0, s0, live.Kernel);
        return kept.Buffer;
    }

    private long _liveTapGathers;

    /// <summary>How many times this backend has gathered live taps (for tests).</summary>
    internal long LiveTapGathers => Interlocked.Read(ref _liveTapGathers);

    /// <summary>W'[k, c, r', s'] = W[k, c, r0 + r', s0 + s'] (the live taps, K x Cg x R' x S').</summary>
    private unsafe void GatherLiveTaps(in Conv2dGeometry g, in Conv2dGeometry live, int r0, int s0, float[] w, float[] liveWeights)
    {
        int planes = g.OutChannels * g.InChannelsPerGroup;
        fixed (float* from = w, to = liveWeights)
            _workers.For(GemmDriver.CeilDiv(planes, LiveTapsChunk), ((nint)from, (nint)to, planes, g.Kernel, live.Kernel, r0, s0), static (s, chunk) =>
            {
                var (fromAt, toAt, planes, kernel, liveKernel, r0, s0) = s;
                int rs = kernel.Height * kernel.Width, liveRs = liveKernel.Height * liveKernel.Width;
                for (int plane = chunk * LiveTapsChunk; plane < Math.Min(planes, (chunk + 1) * LiveTapsChunk); plane++)
                {
                    float* src = (float*)fromAt + (nint)plane * rs + r0 * kernel.Width + s0, dst = (float*)toAt + (nint)plane * liveRs;
                    for (int r = 0; r < liveKernel.Height; r++)
                        for (int c = 0; c < liveKernel.Width; c++) dst[r * liveKernel.Width + c] = src[r * kernel.Width + c];
                }
            });
    }

    /// <summary>dW = 0 except dW[k, c, r0 + r', s0 + s'] = dW'[k, c, r', s'] (the dead taps' gradient is zero).</summary>
    private unsafe void ScatterLiveTaps(in Conv2dGeometry g, in Conv2dGeometry live, int r0, int s0, DeviceBuffer dLive, DeviceBuffer dW)
    {
        int planes = g.OutChannels * g.InChannelsPerGroup;
        fixed (float* from = Array(dLive), to = Array(dW))
            _workers.For(GemmDriver.CeilDiv(planes, LiveTapsChunk), ((nint)from, (nint)to, planes, g.Kernel, live.Kernel, r0, s0), static (s, chunk) =>
            {
                var (fromAt, toAt, planes, kernel, liveKernel, r0, s0) = s;
                int rs = kernel.Height * kernel.Width, liveRs = liveKernel.Height * liveKernel.Width;
                int begin = chunk * LiveTapsChunk, end = Math.Min(planes, (chunk + 1) * LiveTapsChunk);
                new Span<float>((float*)toAt + (nint)begin * rs, (end - begin) * rs).Clear();
                for (int plane = begin; plane < end; plane++)
                {
                    float* src = (float*)fromAt + (nint)plane * liveRs, dst = (float*)toAt + (nint)plane * rs + r0 * kernel.Width + s0;
                    for (int r = 0; r < liveKernel.Height; r++)
                        for (int c = 0; c < liveKernel.Width; c++) dst[r * kernel.Width + c] = src[r * liveKernel.Width + c];
                }
            });
    }

    /// <summary>(k, c) kernel planes per chunk of the gather and the scatter.</summary>
    private const int LiveTapsChunk = 4096;
}

/// <summary>
/// The live taps of a weight buffer (<see cref="CpuBackend"/>'s LiveWeightsOf), gathered when the weights were at
/// <see cref="Version"/>: rows R0.., columns S0.. of the kernel, <see cref="Kernel"/> taps of each. Updated in place
/// when gathered again (no allocation per step).
/// </summary>
internal sealed class LiveWeights(DeviceBuffer buffer)
{
    public DeviceBuffer Buffer { get; } = buffer;
    public long Version { get; set; } = -1;
    public int R0 { get; set; }
    public int S0 { get; set; }
    public Size2 Kernel { get; set; }
}
