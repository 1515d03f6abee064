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
    /// column matrix and no col2im. The GEMM's A operand L = W'_g^T is written
    /// out densely first, L[k*RS + t, c] = W[k, c, RS-1-t] (flipping both kernel axes reverses t = r*S + s), so
    /// its panels pack as plain row copies.
    /// </summary>
    private unsafe void BackwardDataAsForward(in Conv2dGeometry g, in Conv2dGeometry forward, DeviceBuffer dY, DeviceBuffer w, DeviceBuffer dX)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, rs = g.Kernel.Height * g.Kernel.Width;
        int hw = g.InHeight * g.InWidth, pq = g.OutHeight * g.OutWidth, krs = kg * rs;
        var transposed = Allocate(g.WeightShape.Size);
        try
        {
            fixed (float* pw = Cpu(w).ReadArray, pl = Array(transposed), pdy = Array(dY), pdx = Array(dX))
            {
                float* weights = pw, lt = pl;
                // one (group, k) at a time: W[k] is Cg x RS (in L1), its rows of L are RS x Cg
                _workers.For(g.Groups * kg, ((nint)weights, (nint)lt, cg, rs), static (s, gk) =>
                {
                    var (weights, lt, cg, rs) = s;
                    float* from = (float*)weights + (nint)gk * cg * rs, to = (float*)lt + (nint)gk * rs * cg;
                    for (int c = 0; c < cg; c++)
                        for (int t = 0; t < rs; t++) to[(nint)(rs - 1 - t) * cg + c] = from[c * rs + t];
                });
                bool split = GemmDriver.UseColumns(cg, g.Batch * hw, krs, _workers.Threads, prepacked: false);
                for (int grp = 0; grp < g.Groups; grp++)
                {
                    // dX_g (Cg x N*H*W) = L^T (Cg x Kg*RS) * columns of dY_g (Kg*RS x N*H*W)
                    var a = new DenseSource(lt + (nint)grp * krs * cg, cg, kMajor: true);
                    var columns = new Im2ColSource(pdy + (nint)grp * kg * pq, forward);
                    var output = new ConvOutput(pdx + (nint)grp * cg * hw, hw, (nint)g.InChannels * hw);
                    ForwardGemm(a, columns, output, cg, g.Batch * hw, krs, bias: null, split);
                }
            }
        }
        finally
        {
            Release(transposed);
        }
    }
}
