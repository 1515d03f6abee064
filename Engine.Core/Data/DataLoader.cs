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
public sealed class DataLoader(Dataset dataset, int batchSize, bool shuffle = false, ulong seed = 0, bool dropLast = false)
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

    /// <summary>The batches of one epoch, made on <paramref name="backend"/> as they are enumerated.</summary>
    public IEnumerable<Batch> Batches(IBackend backend, int epoch = 0)
    {
        var order = Order(epoch);
        int item = Dataset.ItemShape.Size;
        for (int b = 0; b < BatchCount; b++)
        {
            int start = b * BatchSize, count = Math.Min(BatchSize, order.Length - start);
            var pixels = new float[count * item];
            var labels = new int[count];
            var labelValues = new float[count];
            for (int i = 0; i < count; i++)
            {
                int s = order[start + i];
                Dataset.Images.AsSpan(s * item, item).CopyTo(pixels.AsSpan(i * item, item));
                labels[i] = Dataset.Labels[s];
                labelValues[i] = labels[i];
            }
            var shape = new Shape(count, Dataset.ItemShape[0], Dataset.ItemShape[1], Dataset.ItemShape[2]);
            yield return new Batch(Tensor.FromArray(backend, pixels, shape), Tensor.FromArray(backend, labelValues, new Shape(count)), labels);
        }
    }
}
