namespace Engine.Tests.Reference;

/// <summary>
/// Explicit padding of N x C x H x W planes in double, PyTorch's modes: zeros (a constant), reflect (mirror
/// without repeating the edge: index -1 reads 1), replicate (clamp to the edge), circular (wrap around).
/// </summary>
public static class Pad2dReference
{
    /// <summary>The input index that padded coordinate <paramref name="o"/> reads, or -1 for the constant.</summary>
    public static int SourceIndex(PaddingMode mode, int o, int before, int size)
    {
        int i = o - before;
        if (i >= 0 && i < size) return i;
        switch (mode)
        {
            case PaddingMode.Zeros:
                return -1;
            case PaddingMode.Replicate:
                return Math.Clamp(i, 0, size - 1);
            case PaddingMode.Circular:
                return ((i % size) + size) % size;
            default:
                // reflect about the edge samples 0 and size-1 until inside (a single fold when pad < size)
                while (i < 0 || i >= size) i = i < 0 ? -i : 2 * (size - 1) - i;
                return i;
        }
    }

    public static double[] Forward(Pad2dGeometry g, double[] x)
    {
        int H = g.InHeight, W = g.InWidth;
        int OH = H + g.Padding.Top + g.Padding.Bottom, OW = W + g.Padding.Left + g.Padding.Right;
        var y = new double[g.Batch * g.Channels * OH * OW];
        for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                {
                    int h = SourceIndex(g.Mode, oh, g.Padding.Top, H), w = SourceIndex(g.Mode, ow, g.Padding.Left, W);
                    y[(plane * OH + oh) * OW + ow] = h < 0 || w < 0 ? g.Value : x[(plane * H + h) * W + w];
                }
        return y;
    }

    /// <summary>The adjoint: dX[src] = sum of dY over the padded positions that read src.</summary>
    public static double[] Backward(Pad2dGeometry g, double[] dY)
    {
        int H = g.InHeight, W = g.InWidth;
        int OH = H + g.Padding.Top + g.Padding.Bottom, OW = W + g.Padding.Left + g.Padding.Right;
        var dX = new double[g.Batch * g.Channels * H * W];
        for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                {
                    int h = SourceIndex(g.Mode, oh, g.Padding.Top, H), w = SourceIndex(g.Mode, ow, g.Padding.Left, W);
                    if (h >= 0 && w >= 0) dX[(plane * H + h) * W + w] += dY[(plane * OH + oh) * OW + ow];
                }
        return dX;
    }
}
