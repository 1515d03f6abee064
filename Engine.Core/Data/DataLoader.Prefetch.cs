using System.Collections.Concurrent;

namespace Engine.Data;

/// <summary>One batch on the host: images (B x C x H x W) and labels (B), in the epoch's order.</summary>
public sealed record HostBatch(float[] Images, int[] Labels, Shape Shape)
{
    public int Count => Labels.Length;
}

public sealed partial class DataLoader
{
    /// <summary>Applied to each sample as its batch is made, keyed by (<see cref="Seed"/>, epoch, sample index).</summary>
    public Augmentation? Augmentation { get; init; }

    /// <summary>
    /// How many batches a background task may prepare ahead of the consumer (0: none, made on the caller's thread).
    /// </summary>
    public int Prefetch
    {
        get;
        init => field = value is >= 0 and <= 16 ? value : throw new ArgumentException($"data loader: expected a prefetch depth in [0, 16], got {value}");
    } = 1;

    /// <summary>Batch <paramref name="index"/> of an epoch whose sample order is <paramref name="order"/>.</summary>
    public HostBatch MakeHostBatch(int[] order, int index, int epoch)
    {
        var geometry = ItemGeometry.Of(Dataset.ItemShape);
        int item = geometry.Size, start = index * BatchSize, count = Math.Min(BatchSize, order.Length - start);
        var pixels = new float[count * item];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int s = order[start + i];
            var target = pixels.AsSpan(i * item, item);
            Dataset.Images.AsSpan(s * item, item).CopyTo(target);
            Augmentation?.Apply(target, geometry, Seed, epoch, s);
            labels[i] = Dataset.Labels[s];
        }
        return new HostBatch(pixels, labels, new Shape(count, geometry.Channels, geometry.Height, geometry.Width));
    }

    /// <summary>
    /// The host batches of one epoch. With <see cref="Prefetch"/> &gt; 0 a background task makes them into a
    /// queue holding at most that many, so the next batch is ready while the current one trains; stopping the
    /// enumeration early stops the task. An exception in the task is rethrown to the consumer.
    /// Batches before <paramref name="startBatch"/> are skipped without being made.
    /// </summary>
    public IEnumerable<HostBatch> HostBatches(int epoch, int startBatch = 0)
    {
        if (startBatch < 0 || startBatch > BatchCount)
            throw new ArgumentOutOfRangeException(nameof(startBatch), $"data loader: expected a start batch in [0, {BatchCount}], got {startBatch}");
        var order = Order(epoch);
        if (Prefetch == 0)
        {
            for (int b = startBatch; b < BatchCount; b++) yield return MakeHostBatch(order, b, epoch);
            yield break;
        }
        using var queue = new BlockingCollection<HostBatch>(Prefetch);
        using var stop = new CancellationTokenSource();
        var producer = Task.Run(() =>
        {
            try
            {
                for (int b = startBatch; b < BatchCount; b++) queue.Add(MakeHostBatch(order, b, epoch), stop.Token);
            }
            finally
            {
                queue.CompleteAdding();
            }
        });
        try
        {
            foreach (var batch in queue.GetConsumingEnumerable()) yield return batch;
            producer.GetAwaiter().GetResult();
        }
        finally
        {
            stop.Cancel();
            try
            {
                producer.Wait();
            }
            catch (AggregateException)
            {
                // Either rethrown above already, or the consumer stopped early and the producer was told to stop.
            }
        }
    }
}
