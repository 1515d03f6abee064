namespace Engine.Data;

/// <summary>One batch: images (B x C x H x W) and labels (B, as exact floats) on a backend, plus the host labels.</summary>
public readonly record struct Batch(Tensor Images, Tensor Labels, int[] HostLabels)
{
    public int Count => HostLabels.Length;
}

/// <summary>
/// Cuts a dataset into batches, optionally shuffled with a Fisher-Yates permutation drawn from Philox keyed by
/// (seed, epoch), so every epoch's order is reproducible. The last short batch is kept unless dropLast.
/// Batches are created in the caller's scope.
/// </summary>
public sealed partial class DataLoader(Dataset dataset, int batchSize, bool shuffle = false, ulong seed = 0, bool dropLast = false)
{
    public Dataset Dataset { get; } = dataset.Count > 0 ? dataset : throw new ArgumentException("data loader: the dataset is empty");
    public int BatchSize { get; } = batchSize > 0 ? batchSize : throw new ArgumentException($"data loader: expected a positive batch size, got {batchSize}");
    public bool Shuffle { get; } = shuffle;
    public ulong Seed { get; } = seed;
    public bool DropLast { get; } = dropLast;

    public int BatchCount => DropLast ? Dataset.Count / BatchSize : (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The order of samples in epoch <paramref name="epoch"/>.</summary>
    public int[] Order(int epoch)
    {
        var order = new int[Dataset.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (!Shuffle) return order;
        ulong key = Seed * 0x9E3779B97F4A7C15UL + (ulong)epoch;
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)(Philox.Word(key, (ulong)i) % (uint)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>
    /// The batches of one epoch, made on <paramref name="backend"/> as they are enumerated. The host arrays are
    /// prepared (and augmented) ahead by <see cref="HostBatches"/>; the tensors are made here, on the consumer's thread.
    /// <paramref name="startBatch"/> skips the epoch's first batches (resuming mid-epoch): the rest are the same.
    /// </summary>
    public IEnumerable<Batch> Batches(IBackend backend, int epoch = 0, int startBatch = 0) => Batches(backend, epoch, startBatch, reuseHostLabels: false);

    /// <summary>
    /// <see cref="Batches(IBackend, int, int)"/>, except that a full batch's <see cref="Batch.HostLabels"/> is the
    /// loader's reused buffer, valid until the enumeration moves on (for loops that read it only within the step):
    /// a steady-state batch then allocates nothing on the host.
    /// </summary>
    internal IEnumerable<Batch> Batches(IBackend backend, int epoch, int startBatch, bool reuseHostLabels)
    {
        var geometry = ItemGeometry.Of(Dataset.ItemShape);
        foreach (var filled in FilledBuffers(epoch, startBatch))
        {
            int count = filled.Count;
            for (int i = 0; i < count; i++) filled.LabelValues[i] = filled.Labels[i];
            var images = Tensor.FromArray(backend, filled.Pixels.AsSpan(0, count * geometry.Size), new Shape(count, geometry.Channels, geometry.Height, geometry.Width));
            var labels = Tensor.FromArray(backend, filled.LabelValues.AsSpan(0, count), new Shape(count));
            yield return new Batch(images, labels, reuseHostLabels && count == filled.Labels.Length ? filled.Labels : filled.Labels[..count]);
        }
    }
}
