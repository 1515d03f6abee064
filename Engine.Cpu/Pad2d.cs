namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>y[n,c,oh,ow] = x[n,c,src(oh),src(ow)] or the constant; one chunk per plane.</summary>
    public void Pad2d(in Pad2dGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        var geo = g;
        var xa = Array(x);
        var ya = Array(y);
        int H = geo.InHeight, W = geo.InWidth, OH = geo.OutHeight, OW = geo.OutWidth;
        _workers.For(geo.Batch * geo.Channels, (geo, xa, ya, H, W, OH, OW), static (s, plane) =>
        {
            var (geo, xa, ya, H, W, OH, OW) = s;
            var src = xa.AsSpan(plane * H * W, H * W);
            var dst = ya.AsSpan(plane * OH * OW, OH * OW);
            for (int oh = 0; oh < OH; oh++)
            {
                int h = Pad2dGeometry.Source(geo.Mode, oh, geo.Padding.Top, H);
                for (int ow = 0; ow < OW; ow++)
                {
                    int w = Pad2dGeometry.Source(geo.Mode, ow, geo.Padding.Left, W);
                    dst[oh * OW + ow] = h < 0 || w < 0 ? geo.Value : src[h * W + w];
                }
            }
        });
    }

    /// <summary>dX[src] = sum of dY over the outputs read from src (edges fold back for reflect/replicate/circular).</summary>
    public void Pad2dBackward(in Pad2dGeometry g, DeviceBuffer dY, DeviceBuffer dX)
    {
        var geo = g;
        var dya = Array(dY);
        var dxa = Array(dX);
        int H = geo.InHeight, W = geo.InWidth, OH = geo.OutHeight, OW = geo.OutWidth;
        _workers.For(geo.Batch * geo.Channels, (geo, dya, dxa, H, W, OH, OW), static (s, plane) =>
        {
            var (geo, dya, dxa, H, W, OH, OW) = s;
            var dst = dxa.AsSpan(plane * H * W, H * W);
            var src = dya.AsSpan(plane * OH * OW, OH * OW);
            dst.Clear();
            for (int oh = 0; oh < OH; oh++)
            {
                int h = Pad2dGeometry.Source(geo.Mode, oh, geo.Padding.Top, H);
                if (h < 0) continue;
                for (int ow = 0; ow < OW; ow++)
                {
                    int w = Pad2dGeometry.Source(geo.Mode, ow, geo.Padding.Left, W);
                    if (w >= 0) dst[h * W + w] += src[oh * OW + ow];
                }
            }
        });
    }
}
