namespace Engine;

/// <summary>
/// A tensor viewed as Batch x Channels x Inner (N x C x H*W for an image batch, N x C x 1 for (N,C)): the per-channel
/// primitives of batch normalization reduce or scale over the Count = Batch * Inner values of each channel.
/// </summary>
public readonly record struct ChannelGeometry(int Batch, int Channels, int Inner)
{
    /// <summary>Values per channel.</summary>
    public int Count => Batch * Inner;

    /// <summary>Elements of the whole tensor.</summary>
    public int Size => Batch * Channels * Inner;

    /// <summary>The view of a tensor of rank 2 or more along axis 1 (the channels).</summary>
    public static ChannelGeometry Of(Shape shape) =>
        new(shape.Batch, shape.Channels, shape.Rank == 0 || shape.Batch * shape.Channels == 0 ? 0 : shape.Size / (shape.Batch * shape.Channels));

    public void Validate(string where)
    {
        if (Batch < 1 || Channels < 1 || Inner < 1)
            throw new ArgumentException($"{where}: expected a batch, channels and inner size of at least 1, got {Batch} x {Channels} x {Inner}");
    }
}
