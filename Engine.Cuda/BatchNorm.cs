namespace Engine.Cuda;

// kernels/batchnorm.ptx: channel_statistics, channel_gradient_sums (thread per channel), channel_affine (thread per element).
public sealed partial class CudaBackend
{
    private const string BatchNormModule = "batchnorm";

    public void ChannelStatistics(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer mean, DeviceBuffer variance)
    {
        g.Validate("channel statistics");
        Need(x, g.Size, "channel statistics x");
        Need(mean, g.Channels, "channel statistics mean");
        Need(variance, g.Channels, "channel statistics variance");
        Launch1D(Kernel(BatchNormModule, "channel_statistics"), g.Channels, new KernelArgs()
            .Pointer(At(x)).Pointer(At(mean)).Pointer(At(variance)).Int(g.Batch).Int(g.Channels).Int(g.Inner));
    }

    public void ChannelGradientSums(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer mean, DeviceBuffer sumDY, DeviceBuffer sumDYCentered)
    {
        g.Validate("channel gradient sums");
        Need(x, g.Size, "channel gradient sums x");
        Need(dY, g.Size, "channel gradient sums dY");
        Need(mean, g.Channels, "channel gradient sums mean");
        Need(sumDY, g.Channels, "channel gradient sums sumDY");
        Need(sumDYCentered, g.Channels, "channel gradient sums sumDYCentered");
        Launch1D(Kernel(BatchNormModule, "channel_gradient_sums"), g.Channels, new KernelArgs()
            .Pointer(At(x)).Pointer(At(dY)).Pointer(At(mean)).Pointer(At(sumDY)).Pointer(At(sumDYCentered))
            .Int(g.Batch).Int(g.Channels).Int(g.Inner));
    }

    public void ChannelAffine(in ChannelGeometry g, DeviceBuffer x, DeviceBuffer xCenter, DeviceBuffer xScale, DeviceBuffer? z, DeviceBuffer? zScale, DeviceBuffer shift, DeviceBuffer y)
    {
        g.Validate("channel affine");
        if ((z is null) != (zScale is null))
            throw new ArgumentException($"channel affine: expected z and zScale together, got {(z is null ? "no z" : "z")} and {(zScale is null ? "no zScale" : "zScale")}");
        Need(x, g.Size, "channel affine x");
        Need(y, g.Size, "channel affine y");
        Need(xCenter, g.Channels, "channel affine xCenter");
        Need(xScale, g.Channels, "channel affine xScale");
        Need(shift, g.Channels, "channel affine shift");
        if (z is not null) Need(z, g.Size, "channel affine z");
        if (zScale is not null) Need(zScale, g.Channels, "channel affine zScale");
        Launch1D(Kernel(BatchNormModule, "channel_affine"), g.Size, new KernelArgs()
            .Pointer(At(x)).Pointer(At(xCenter)).Pointer(At(xScale)).Pointer(AtOrNull(z)).Pointer(AtOrNull(zScale))
            .Pointer(At(shift)).Pointer(At(y)).Int(g.Channels).Int(g.Inner).Int(g.Size));
    }
}
