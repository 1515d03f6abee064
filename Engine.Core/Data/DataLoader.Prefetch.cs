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
        int count = Math.Min(BatchSize, order.Length - index * BatchSize);
        var pixels = new float[count * geometry.Size];
        var labels = new int[count];
        Fill(order, index, epoch, pixels, labels);
        return new HostBatch(pixels, labels, new Shape(count, geometry.Channels, geometry.Height, geometry.Width));
    }

    /// <summary>
    /// Writes batch <paramref name="index"/>'s samples (augmented) and labels to the front of
    /// <paramref name="pixels"/> and <paramref name="labels"/>; returns its number of samples.
    /// </summary>
    private int Fill(int[] order, int index, int epoch, Span<float> pixels, Span<int> labels)
    {
        var geometry = ItemGeometry.Of(Dataset.ItemShape);
        int item = geometry.Size, start = index * BatchSize, count = Math.Min(BatchSize, order.Length - start);
        for (int i = 0; i < count; i++)
        {
            int s = order[start + i];
            var target = pixels.Slice(i * item, item);
            Dataset.Images.AsSpan(s * item, item).CopyTo(target);
            Augmentation?.Apply(target, geometry, Seed, epoch, s);
            labels[i] = Dataset.Labels[s];
        }
        return count;
    }

    /// <summary>
    /// The host batches of one epoch. With <see cref="Prefetch"/> &gt; 0 a background task makes up to
    /// <see cref="Prefetch"/> + 1 of them ahead of the one the consumer holds, so the next batch is ready while the
    /// current one trains; stopping the enumeration early stops the task. An exception in the task is rethrown to the
    /// consumer when it reaches the batch that failed.
    /// Batches before <paramref name="startBatch"/> are skipped without being made.
    /// </summary>
    public IEnumerable<HostBatch> HostBatches(int epoch, int startBatch = 0)
    {
        var geometry = ItemGeometry.Of(Dataset.ItemShape);
        foreach (var filled in FilledBuffers(epoch, startBatch))
        {
            int count = filled.Count;
            yield return new HostBatch(filled.Pixels[..(count * geometry.Size)], filled.Labels[..count],
                new Shape(count, geometry.Channels, geometry.Height, geometry.Width));
        }
    }

    /// <summary>
    /// The batches of one epoch (as <see cref="HostBatches"/>) in host buffers the loader reuses: each one's
    /// contents are valid until the enumeration moves on. The buffers are kept for the loader's next epoch, so a
    /// steady-state batch allocates nothing; an enumeration running while another holds them makes its own.
    /// </summary>
    internal IEnumerable<BatchBuffers> FilledBuffers(int epoch, int startBatch)
    {
        if (startBatch < 0 || startBatch > BatchCount)
            throw new ArgumentOutOfRangeException(nameof(startBatch), $"data loader: expected a start batch in [0, {BatchCount}], got {startBatch}");
        var order = Order(epoch);
        var slots = Interlocked.Exchange(ref _spareBuffers, null) is { } spare && spare.Length == SlotCount ? spare : NewSlots();
        try
        {
            if (Prefetch == 0)
            {
                for (int b = startBatch; b < BatchCount; b++)
                {
                    slots[0].Count = Fill(order, b, epoch, slots[0].Pixels, slots[0].Labels);
                    yield return slots[0];
                }
                yield break;
            }
            var ring = new PrefetchRing(this, order, epoch, startBatch, slots);
            try
            {
                for (int b = startBatch; b < BatchCount; b++) yield return ring.Next(b);
            }
            finally
            {
                ring.Stop();
            }
        }
        finally
        {
            Volatile.Write(ref _spareBuffers, slots);
        }
    }

    // One slot on the caller's thread; with prefetching, the consumer's, the queued ones and the one being made.
    private int SlotCount => Prefetch == 0 ? 1 : Prefetch + 2;

    private BatchBuffers[]? _spareBuffers;

    private BatchBuffers[] NewSlots()
    {
        var slots = new BatchBuffers[SlotCount];
        for (int i = 0; i < slots.Length; i++) slots[i] = new BatchBuffers(BatchSize, Dataset.ItemShape.Size);
        return slots;
    }

    /// <summary>
    /// A ring of batch buffers between a background producer and the consumer: the producer fills slot b mod n once
    /// the consumer has moved past the batch that held it, so it runs at most n - 1 batches ahead.
    /// </summary>
    private sealed class PrefetchRing
    {
        private readonly BatchBuffers[] _slots;
        private readonly SemaphoreSlim _free, _filled = new(0);
        private readonly Task _producer;
        private volatile bool _stop;
        private volatile int _failedAt = -1;
        private bool _holding;

        public PrefetchRing(DataLoader loader, int[] order, int epoch, int startBatch, BatchBuffers[] slots)
        {
            _slots = slots;
            _free = new SemaphoreSlim(slots.Length);
            _producer = Task.Run(() => Produce(loader, order, epoch, startBatch));
        }

        private void Produce(DataLoader loader, int[] order, int epoch, int startBatch)
        {
            for (int b = startBatch; b < loader.BatchCount; b++)
            {
                _free.Wait();
                if (_stop) return;
                var slot = _slots[b % _slots.Length];
                try
                {
                    slot.Count = loader.Fill(order, b, epoch, slot.Pixels, slot.Labels);
                }
                catch
                {
                    _failedAt = b;
                    throw;
                }
                finally
                {
                    _filled.Release();
                }
            }
        }

        /// <summary>Batch <paramref name="b"/> once made; the batch handed out before it is given back to the producer.</summary>
        public BatchBuffers Next(int b)
        {
            if (_holding) _free.Release();
            _holding = false;
            _filled.Wait();
            if (_failedAt == b) _producer.GetAwaiter().GetResult();
            _holding = true;
            return _slots[b % _slots.Length];
        }

        /// <summary>Ends the producer (early or at the end of the epoch) and waits for it.</summary>
        public void Stop()
        {
            _stop = true;
            _free.Release(_slots.Length);
            try
            {
                _producer.Wait();
            }
            catch (AggregateException)
            {
                // Either rethrown by Next already, or the consumer stopped before reaching the batch that failed.
            }
            _free.Dispose();
            _filled.Dispose();
        }
    }
}

/// <summary>Host buffers for one full batch; the front <see cref="Count"/> samples hold the current batch.</summary>
internal sealed class BatchBuffers(int batchSize, int itemSize)
{
    public float[] Pixels { get; } = new float[batchSize * itemSize];
    public int[] Labels { get; } = new int[batchSize];

    /// <summary>The labels as exact floats, written by the consumer as it makes the batch's label tensor.</summary>
    public float[] LabelValues { get; } = new float[batchSize];

    public int Count { get; set; }
}
