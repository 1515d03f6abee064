namespace Engine.Data;

/// <summary>
/// Where segmentation samples come from: <see cref="Count"/> images (C x H x W floats) each with a binary mask
/// (H x W, 1 = foreground, 0 = background). Sample i is always the same (made on demand or read from memory).
/// </summary>
public interface ISegmentationSource
{
    int Count { get; }
    /// <summary>The image's (C, H, W); the mask is (1, H, W).</summary>
    Shape ItemShape { get; }
    /// <summary>Writes sample <paramref name="index"/> into <paramref name="image"/> (C*H*W) and <paramref name="mask"/> (H*W).</summary>
    void Fill(int index, Span<float> image, Span<float> mask);
}

/// <summary>Segmentation samples held in memory (image/mask folder pairs, or a generated set materialized).</summary>
public sealed class SegmentationSet : ISegmentationSource
{
    public SegmentationSet(float[] images, float[] masks, Shape itemShape)
    {
        if (itemShape.Rank != 3)
            throw new ArgumentException($"segmentation set: expected an item shape (C,H,W), got {itemShape}");
        int plane = itemShape.Height * itemShape.Width;
        if (masks.Length == 0 || masks.Length % plane != 0 || images.Length != (long)masks.Length / plane * itemShape.Size)
            throw new ArgumentException($"segmentation set: {images.Length} image values of shape {itemShape} do not match {masks.Length} mask values of {itemShape.Height}x{itemShape.Width}");
        Images = images;
        Masks = masks;
        ItemShape = itemShape;
    }

    public float[] Images { get; }
    public float[] Masks { get; }
    public Shape ItemShape { get; }
    public int Count => Masks.Length / (ItemShape.Height * ItemShape.Width);

    public void Fill(int index, Span<float> image, Span<float> mask)
    {
        int item = ItemShape.Size, plane = ItemShape.Height * ItemShape.Width;
        Images.AsSpan(index * item, item).CopyTo(image);
        Masks.AsSpan(index * plane, plane).CopyTo(mask);
    }

    /// <summary>The first <paramref name="count"/> samples (this set when it has no more).</summary>
    public SegmentationSet Take(int count)
    {
        if (count >= Count) return this;
        int item = ItemShape.Size, plane = ItemShape.Height * ItemShape.Width;
        return new SegmentationSet(Images[..(count * item)], Masks[..(count * plane)], ItemShape);
    }

    /// <summary>Every sample of <paramref name="source"/> copied into memory.</summary>
    public static SegmentationSet From(ISegmentationSource source)
    {
        int item = source.ItemShape.Size, plane = source.ItemShape.Height * source.ItemShape.Width;
        var images = new float[(long)source.Count * item];
        var masks = new float[(long)source.Count * plane];
        for (int i = 0; i < source.Count; i++) source.Fill(i, images.AsSpan(i * item, item), masks.AsSpan(i * plane, plane));
        return new SegmentationSet(images, masks, source.ItemShape);
    }
}

/// <summary>One segmentation batch on a backend: images (B x C x H x W) and masks (B x 1 x H x W).</summary>
public readonly record struct SegmentationBatch(Tensor Images, Tensor Masks, int[] Indices)
{
    public int Count => Indices.Length;
}

/// <summary>
/// Cuts a segmentation source into batches, shuffled per epoch with a Fisher-Yates permutation from Philox keyed
/// by (seed, epoch) like <see cref="DataLoader"/>. Samples are made (or copied) as each batch is enumerated.
/// </summary>
public sealed class SegmentationLoader(ISegmentationSource source, int batchSize, bool shuffle = false, ulong seed = 0)
{
    public ISegmentationSource Source { get; } = source.Count > 0 ? source : throw new ArgumentException("segmentation loader: the source is empty");
    public int BatchSize { get; } = batchSize > 0 ? batchSize : throw new ArgumentException($"segmentation loader: expected a positive batch size, got {batchSize}");
    public int BatchCount => (Source.Count + BatchSize - 1) / BatchSize;

    public int[] Order(int epoch)
    {
        var order = new int[Source.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (!shuffle) return order;
        ulong key = seed * 0x9E3779B97F4A7C15UL + (ulong)epoch;
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)(Philox.Word(key, (ulong)i) % (uint)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>The batches of one epoch, made on <paramref name="backend"/> in the caller's scope.</summary>
    public IEnumerable<SegmentationBatch> Batches(IBackend backend, int epoch = 0)
    {
        var order = Order(epoch);
        var shape = Source.ItemShape;
        int item = shape.Size, plane = shape.Height * shape.Width;
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            int count = Math.Min(BatchSize, order.Length - start);
            var images = new float[count * item];
            var masks = new float[count * plane];
            var indices = order.AsSpan(start, count).ToArray();
            Parallel.For(0, count, i => Source.Fill(indices[i], images.AsSpan(i * item, item), masks.AsSpan(i * plane, plane)));
            yield return new SegmentationBatch(
                Tensor.FromArray(backend, images, new Shape(count, shape[0], shape.Height, shape.Width)),
                Tensor.FromArray(backend, masks, new Shape(count, 1, shape.Height, shape.Width)),
                indices);
        }
    }
}
