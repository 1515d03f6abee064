namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Nearest: y = x at the nearest source; bilinear: the weighted sum of the four taps. One chunk per plane.</summary>
    public void Resize2d(in Resize2dGeometry g, DeviceBuffer x, DeviceBuffer y)
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
                for (int ow = 0; ow < OW; ow++)
                {
                    if (geo.Mode == ResizeMode.Nearest)
                    {
                        dst[oh * OW + ow] = src[Resize2dGeometry.NearestSource(oh, H, OH) * W + Resize2dGeometry.NearestSource(ow, W, OW)];
                        continue;
                    }
                    var (h0, h1, lh) = geo.LinearSource(oh, H, OH);
                    var (w0, w1, lw) = geo.LinearSource(ow, W, OW);
                    float top = (1f - lw) * src[h0 * W + w0] + lw * src[h0 * W + w1];
                    float bottom = (1f - lw) * src[h1 * W + w0] + lw * src[h1 * W + w1];
                    dst[oh * OW + ow] = (1f - lh) * top + lh * bottom;
                }
        });
    }

    /// <summary>dX = sum over outputs of dY times each tap's weight, added onto the tap.</summary>
    public void Resize2dBackward(in Resize2dGeometry g, DeviceBuffer dY, DeviceBuffer dX)
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
                for (int ow = 0; ow < OW; ow++)
                {
                    float d = src[oh * OW + ow];
                    if (geo.Mode == ResizeMode.Nearest)
                    {
                        dst[Resize2dGeometry.NearestSource(oh, H, OH) * W + Resize2dGeometry.NearestSource(ow, W, OW)] += d;
                        continue;
                    }
                    var (h0, h1, lh) = geo.LinearSource(oh, H, OH);
                    var (w0, w1, lw) = geo.LinearSource(ow, W, OW);
                    dst[h0 * W + w0] += (1f - lh) * (1f - lw) * d;
                    dst[h0 * W + w1] += (1f - lh) * lw * d;
                    dst[h1 * W + w0] += lh * (1f - lw) * d;
                    dst[h1 * W + w1] += lh * lw * d;
                }
        });
    }
}
