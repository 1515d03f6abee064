namespace Engine.Cpu;

// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output,
// Cg = C/G, Kg = K/G, dH x dW dilation, eH = dH*(R-1), eW = dW*(S-1) (the kernel's extent minus one).
public sealed partial class CpuBackend
{
    /// <summary>
    /// Fewest input pixels (N*H*W) for which the data gradient runs as a forward convolution: below it the GEMM is too
    /// short to pay for writing the flipped weights out (ResNet-18's layer-4 convolution on 7x7 maps at batch 1 measured 11.6 ms this way
    /// against 8.8 ms through col2im; its 14x14 layer and every batch-8 layer were faster).
    /// </summary>
    private const int AsForwardMinPixels = 128;

    /// <summary>
    /// Whether the data gradient of g is a forward convolution, and which: at stride 1,
    /// dX[n, c, h, w] = sum over k, r, s of dY[n, k, h + top - r*dH, w + left - s*dW] * W[k, c, r, s], which is the
    /// forward convolution of dY (N x K x P x Q) with W' (C x Kg x R x S), W'[c, k, r', s'] = W[k, c, R-1-r', S-1-s']
    /// (per group), stride 1, the same dilation and padding (eH - top, eW - left, eH - bottom, eW - right), whose
    /// output is H x W (P = H + top + bottom - eH). The padding must not be negative: every side at most eH or eW;
    /// and the batch must have at least <see cref="AsForwardMinPixels"/> input pixels.
    /// </summary>
    private static bool AsForward(in Conv2dGeometry g, out Conv2dGeometry forward)
    {
        int eh = g.Dilation.Height * (g.Kernel.Height - 1), ew = g.Dilation.Width * (g.Kernel.Width - 1);
        var p = g.Padding;
        if (g.Stride is not { Height: 1, Width: 1 } || p.Top > eh || p.Bottom > eh || p.Left > ew || p.Right > ew
            || (long)g.Batch * g.InHeight * g.InWidth < AsForwardMinPixels)
        {
            forward = default;
            return false;
        }
        forward = new Conv2dGeometry(g.Batch, g.OutChannels, g.OutHeight, g.OutWidth, g.InChannels, g.Kernel, 1,
            new Padding2d(eh - p.Top, ew - p.Left, eh - p.Bottom, ew - p.Right), g.Dilation, g.Groups);
        return true;
    }

    /// <summary>
    /// dX = forward convolution (<paramref name="forward"/>, see <see cref="AsForward"/>) of dY with the flipped,
    /// transposed weights, per group the GEMM dX_g (Cg x N*H*W) = W'_g (Cg x Kg*R*S) * columns(dY_g): the im2col packing
    /// and the GEMM of the forward pass (the column split where it suits, as in the forward: same bits either way), no
    /// column matrix and no col2im. The GEMM's A operand L = W'_g^T is packed block by block straight from W
    /// (<see cref="FlippedWeightsSource"/>), so no flipped copy of the weights is written out; from the second data
    /// gradient of unchanged weights on (a frozen network's input gradients), it is read from the copy packed then
    /// (<see cref="PackedWeights.Flipped"/>: the same bits).
    /// </summary>
    private unsafe void BackwardDataAsForward(in Conv2dGeometry g, in Conv2dGeometry forward, DeviceBuffer dY, DeviceBuffer w, DeviceBuffer dX)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, rs = g.Kernel.Height * g.Kernel.Width;
        int hw = g.InHeight * g.InWidth, pq = g.OutHeight * g.OutWidth, krs = kg * rs;
        // the weights are only read here, so this leaves their version (and any packed copy) valid
        var weightBuffer = Cpu(w);
        var packed = PackedWeights.Flipped(weightBuffer, g.Groups, kg, cg, rs, _workers);
        fixed (float* pw = weightBuffer.ReadArray, pdy = Array(dY), pdx = Array(dX))
        {
            bool split = GemmDriver.UseColumns(cg, g.Batch * hw, krs, _workers.Threads, prepacked: packed is not null);
            for (int grp = 0; grp < g.Groups; grp++)
            {
                // dX_g (Cg x N*H*W) = L^T (Cg x Kg*RS) * columns of dY_g (Kg*RS x N*H*W)
                var columns = new Im2ColSource(pdy + (nint)grp * kg * pq, forward);
                var output = new ConvOutput(pdx + (nint)grp * cg * hw, hw, (nint)g.InChannels * hw);
                if (packed is not null) ForwardGemm(packed.Group(grp), columns, output, cg, g.Batch * hw, krs, bias: null, split);
                else ForwardGemm(new FlippedWeightsSource(pw + (nint)grp * kg * cg * rs, cg, rs), columns, output, cg, g.Batch * hw, krs, bias: null, split);
            }
        }
    }
}

/// <summary>
/// The A operand of the data gradient as a forward convolution: L[k*RS + t', c] = W_g[k, c, RS-1-t'] (Kg*RS x Cg, the
/// flipped, transposed weights of one group), packed from W as the driver asks for each block. Row k*RS + t' of a
/// panel reads RS-strided values of W[k] (Cg x RS, in L1 for RS rows in a row).
/// </summary>
internal readonly unsafe struct FlippedWeightsSource(float* w, int cg, int rs) : IPanelSource
{
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        int panels = GemmDriver.CeilDiv(width, panel);
        for (int row = 0, k = k0 / rs, t = k0 % rs; row < kc; row++)
        {
            float* from = w + (nint)k * cg * rs + (nint)j0 * rs + (rs - 1 - t);
            for (int p = 0; p < panels; p++)
            {
                float* dst = destination + (nint)p * kc * panel + (nint)row * panel, src = from + (nint)p * panel * rs;
                int i = 0, cols = Math.Min(panel, width - p * panel);
                for (; i < cols; i++, src += rs) dst[i] = *src;
                for (; i < panel; i++) dst[i] = 0f;
            }
            if (++t == rs)
            {
                t = 0;
                k++;
            }
        }
    }
}
