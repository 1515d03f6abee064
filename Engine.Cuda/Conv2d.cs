namespace Engine.Cuda;

// kernels/conv2d.ptx: im2col, col2im, bias_add, bias_backward; the products go through cuBLAS.
// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output,
// Cg = C/G, Kg = K/G, CRS = Cg*R*S, PQ = P*Q. Per group the columns of all images are one N x CRS x PQ buffer,
// so each product is one strided-batched GEMM over the images. A 1x1, stride-1, unpadded convolution uses x
// itself as the column matrix (image stride C*H*W) and skips im2col/col2im.
public sealed partial class CudaBackend
{
    private const string ConvModule = "conv2d";

    public void Conv2d(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        CheckConv(g, x, w, y, "conv2d");
        if (bias is not null) Need(bias, g.OutChannels, "conv2d bias");
        var s = Sizes(g);
        var columns = s.Pointwise ? null : Allocate(checked(g.Batch * s.Crs * s.Pq));
        try
        {
            for (int grp = 0; grp < g.Groups; grp++)
            {
                var (cols, colStride) = Columns(g, s, x, columns, grp);
                // y_g,n (Kg x PQ) = W_g (Kg x CRS) * columns_n (CRS x PQ), for every image n
                Sgemm(new GemmGeometry(false, false, s.Kg, s.Pq, s.Crs, g.Batch, 0, colStride, (long)g.OutChannels * s.Pq),
                    1f, At(w, (long)grp * s.Kg * s.Crs), cols, 0f, At(y, (long)grp * s.Kg * s.Pq));
            }
        }
        finally
        {
            if (columns is not null) Release(columns);
        }
        if (bias is not null)
        {
            long n = (long)g.Batch * g.OutChannels * s.Pq;
            Launch1D(Kernel(ConvModule, "bias_add"), n, new KernelArgs().Pointer(At(y)).Pointer(At(bias)).Int((int)n).Int(g.OutChannels).Int(s.Pq));
        }
    }

    public void Conv2dBackwardData(in Conv2dGeometry g, DeviceBuffer dY, DeviceBuffer w, DeviceBuffer dX)
    {
        CheckConv(g, dX, w, dY, "conv2d backward data");
        var s = Sizes(g);
        var dColumns = s.Pointwise ? null : Allocate(checked(g.Batch * s.Crs * s.Pq));
        try
        {
            for (int grp = 0; grp < g.Groups; grp++)
            {
                // dColumns_n (CRS x PQ) = W_g^T (CRS x Kg) * dY_g,n (Kg x PQ); pointwise writes dX_g,n directly
                ulong target = s.Pointwise ? At(dX, (long)grp * s.Cg * s.Hw) : At(dColumns!);
                long targetStride = s.Pointwise ? (long)g.InChannels * s.Hw : (long)s.Crs * s.Pq;
                Sgemm(new GemmGeometry(true, false, s.Crs, s.Pq, s.Kg, g.Batch, 0, (long)g.OutChannels * s.Pq, targetStride),
                    1f, At(w, (long)grp * s.Kg * s.Crs), At(dY, (long)grp * s.Kg * s.Pq), 0f, target);
                if (!s.Pointwise)
                    Launch1D(Kernel(ConvModule, "col2im"), (long)g.Batch * s.Cg * s.Hw, GeometryArgs(g, s, grp, At(dColumns!), At(dX)));
            }
        }
        finally
        {
            if (dColumns is not null) Release(dColumns);
        }
    }

    public void Conv2dBackwardWeight(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dW, DeviceBuffer? dBias)
    {
        CheckConv(g, x, dW, dY, "conv2d backward weight");
        if (dBias is not null) Need(dBias, g.OutChannels, "conv2d backward bias");
        var s = Sizes(g);
        var columns = s.Pointwise ? null : Allocate(checked(g.Batch * s.Crs * s.Pq));
        try
        {
            for (int grp = 0; grp < g.Groups; grp++)
            {
                var (cols, colStride) = Columns(g, s, x, columns, grp);
                // dW_g (Kg x CRS) = sum over n of dY_g,n (Kg x PQ) * columns_n^T (PQ x CRS), images added in order
                for (int n = 0; n < g.Batch; n++)
                    Sgemm(new GemmGeometry(false, true, s.Kg, s.Crs, s.Pq),
                        1f, At(dY, ((long)n * g.OutChannels + grp * s.Kg) * s.Pq), cols + (ulong)(n * colStride * sizeof(float)),
                        n == 0 ? 0f : 1f, At(dW, (long)grp * s.Kg * s.Crs));
            }
        }
        finally
        {
            if (columns is not null) Release(columns);
        }
        if (dBias is not null)
            Launch1D(Kernel(ConvModule, "bias_backward"), g.OutChannels,
                new KernelArgs().Pointer(At(dY)).Pointer(At(dBias)).Int(g.Batch).Int(g.OutChannels).Int(s.Pq));
    }

    private static void CheckConv(in Conv2dGeometry g, DeviceBuffer input, DeviceBuffer weight, DeviceBuffer output, string what)
    {
        Need(input, g.InputShape.Size, $"{what} input {g.InputShape}");
        Need(weight, g.WeightShape.Size, $"{what} weight {g.WeightShape}");
        Need(output, g.OutputShape.Size, $"{what} output {g.OutputShape}");
    }

    private readonly record struct ConvSizes(int Cg, int Kg, int Hw, int Pq, int Crs, bool Pointwise);

    private static ConvSizes Sizes(in Conv2dGeometry g)
    {
        int cg = g.InChannelsPerGroup;
        bool pointwise = g.Kernel is { Height: 1, Width: 1 } && g.Stride is { Height: 1, Width: 1 } && g.Padding.IsZero;
        return new ConvSizes(cg, g.OutChannelsPerGroup, g.InHeight * g.InWidth, g.OutHeight * g.OutWidth,
            cg * g.Kernel.Height * g.Kernel.Width, pointwise);
    }

    /// <summary>The column matrices of group <paramref name="grp"/> (im2col into the scratch, or x itself) and their image stride.</summary>
    private (ulong Address, long Stride) Columns(in Conv2dGeometry g, ConvSizes s, DeviceBuffer x, DeviceBuffer? columns, int grp)
    {
        if (s.Pointwise) return (At(x, (long)grp * s.Cg * s.Hw), (long)g.InChannels * s.Hw);
        Launch1D(Kernel(ConvModule, "im2col"), (long)g.Batch * s.Crs * s.Pq, GeometryArgs(g, s, grp, At(x), At(columns!)));
        return (At(columns!), (long)s.Crs * s.Pq);
    }

    private static KernelArgs GeometryArgs(in Conv2dGeometry g, ConvSizes s, int grp, ulong from, ulong to) =>
        new KernelArgs().Pointer(from).Pointer(to)
            .Int(g.Batch).Int(g.InChannels).Int(g.InHeight).Int(g.InWidth).Int(s.Cg).Int(grp * s.Cg)
            .Int(g.Kernel.Height).Int(g.Kernel.Width).Int(g.OutHeight).Int(g.OutWidth)
            .Int(g.Stride.Height).Int(g.Stride.Width).Int(g.Padding.Top).Int(g.Padding.Left)
            .Int(g.Dilation.Height).Int(g.Dilation.Width);
}
