using Engine.Tests.Support;
using FsCheck.Fluent;

namespace Engine.Tests.Primitives;

/// <summary>
/// One random convolution: G groups of Cg input and Kg output channels (depthwise when Cg = 1 and G = C),
/// kernel, stride, dilation, explicit asymmetric padding or TensorFlow 'same' padding, and a padding mode.
/// </summary>
public sealed record Conv2dCase(int Batch, int Groups, int Cg, int Kg, int H, int W, Size2 Kernel, Size2 Stride, Size2 Dilation,
    Padding2d Explicit, bool Same, bool Bias, PaddingMode Mode, int Seed)
{
    public int InChannels => Groups * Cg;
    public int OutChannels => Groups * Kg;

    /// <summary>'same' from its definition: output ceil(n/s); total padding (out-1)s + d(k-1) + 1 - n, the odd one at the end.</summary>
    public static (int Before, int After) SamePadding(int n, int k, int s, int d)
    {
        int outSize = (int)Math.Ceiling(n / (double)s);
        int total = Math.Max((outSize - 1) * s + d * (k - 1) + 1 - n, 0);
        return (total / 2, total - total / 2);
    }

    public Padding2d Padding
    {
        get
        {
            if (!Same) return Explicit;
            var (top, bottom) = SamePadding(H, Kernel.Height, Stride.Height, Dilation.Height);
            var (left, right) = SamePadding(W, Kernel.Width, Stride.Width, Dilation.Width);
            return new Padding2d(top, left, bottom, right);
        }
    }

    /// <summary>The convolution's geometry with the padding applied inside it (zero padding).</summary>
    public Conv2dGeometry Geometry => new(Batch, InChannels, H, W, OutChannels, Kernel, Stride, Padding, Dilation, Groups);

    /// <summary>The explicit padding step of a non-zero padding mode, and the unpadded convolution after it.</summary>
    public Pad2dGeometry PadGeometry => new(Batch, InChannels, H, W, Padding, Mode);

    public Conv2dGeometry UnpaddedGeometry
    {
        get
        {
            var p = Padding;
            return new(Batch, InChannels, H + p.Top + p.Bottom, W + p.Left + p.Right, OutChannels, Kernel, Stride, 0, Dilation, Groups);
        }
    }

    /// <summary>Whether PyTorch accepts this padding for the mode: reflect needs pad &lt; size, circular pad &lt;= size.</summary>
    public bool ModeAccepts
    {
        get
        {
            var p = Padding;
            int maxH = Math.Max(p.Top, p.Bottom), maxW = Math.Max(p.Left, p.Right);
            return Mode switch
            {
                PaddingMode.Reflect => maxH < H && maxW < W,
                PaddingMode.Circular => maxH <= H && maxW <= W,
                _ => true,
            };
        }
    }

    private static FsCheck.Gen<Size2> Pair1To(int max) =>
        from h in Gen.Choose(1, max) from w in Gen.Choose(1, max) select new Size2(h, w);

    public static readonly FsCheck.Gen<Conv2dCase> Cases =
        from batch in Gen.Elements(1, 2, 3, 9)
        from kind in Gen.Elements("dense", "dense", "grouped", "depthwise")
        from groups in kind == "dense" ? Gen.Constant(1) : Gen.Choose(2, 4)
        from cg in kind == "depthwise" ? Gen.Constant(1) : Gen.Choose(1, 3)
        from kg in Gen.Choose(1, 3)
        from kernel in Pair1To(4)
        from stride in Pair1To(3)
        from dilation in from h in Gen.Elements(1, 1, 2, 3) from w in Gen.Elements(1, 1, 2, 3) select new Size2(h, w)
        from same in Gen.Elements(false, false, true)
        from pads in Gen.ArrayOf(Gen.Choose(0, 2), 4)
        from h in Gen.Choose(1, 11)
        from w in Gen.Choose(1, 11)
        from bias in Gen.Elements(true, false)
        from mode in Gen.Elements(PaddingMode.Zeros, PaddingMode.Zeros, PaddingMode.Reflect, PaddingMode.Replicate, PaddingMode.Circular)
        from seed in Properties.DataSeed
        let padding = new Padding2d(pads[0], pads[1], pads[2], pads[3])
        // grow the input until the dilated kernel fits in the padded input
        let fitH = Math.Max(h, dilation.Height * (kernel.Height - 1) + 1 - (same ? 0 : pads[0] + pads[2]))
        let fitW = Math.Max(w, dilation.Width * (kernel.Width - 1) + 1 - (same ? 0 : pads[1] + pads[3]))
        select new Conv2dCase(batch, groups, cg, kg, fitH, fitW, kernel, stride, dilation, padding, same, bias, mode, seed);
}
