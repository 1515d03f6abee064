namespace Engine.Data;

/// <summary>Subsets of a data set: chosen items, and a seeded hold-out split for validation.</summary>
public static class DatasetSplit
{
    /// <summary>The items at <paramref name="indices"/>, in that order, with the same classes, names and normalization.</summary>
    public static Dataset Subset(Dataset dataset, IReadOnlyList<int> indices)
    {
        int item = dataset.ItemShape.Size;
        var images = new float[(long)indices.Count * item];
        var labels = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            int s = indices[i];
            if ((uint)s >= (uint)dataset.Count) throw new ArgumentException($"subset: index {s} is outside the data set's {dataset.Count} items");
            dataset.Images.AsSpan(s * item, item).CopyTo(images.AsSpan(i * item, item));
            labels[i] = dataset.Labels[s];
        }
        return new Dataset(images, labels, dataset.ItemShape, dataset.Classes) { ClassNames = dataset.ClassNames, Normalization = dataset.Normalization };
    }

    /// <summary>
    /// Holds out round(fraction * N) items for validation, chosen by a Philox permutation keyed by
    /// <paramref name="seed"/> (the same seed gives the same split); both parts keep the original item order.
    /// </summary>
    public static (Dataset Train, Dataset Validation) Split(Dataset dataset, double fraction, ulong seed)
    {
        int held = (int)Math.Round(fraction * dataset.Count);
        if (!(fraction > 0 && fraction < 1) || held < 1 || held >= dataset.Count)
            throw new ArgumentException($"validation split: expected a fraction in (0, 1) that leaves at least one item on each side of {dataset.Count}, got {fraction} ({held} items)");
        // The first `held` items of a seeded shuffle (the loader's Fisher-Yates, epoch 0) go to validation.
        var order = new DataLoader(dataset, 1, shuffle: true, seed: seed ^ ValidationKey).Order(0);
        var isValidation = new bool[dataset.Count];
        for (int i = 0; i < held; i++) isValidation[order[i]] = true;
        var validation = Enumerable.Range(0, dataset.Count).Where(i => isValidation[i]).ToArray();
        var train = Enumerable.Range(0, dataset.Count).Where(i => !isValidation[i]).ToArray();
        return (Subset(dataset, train), Subset(dataset, validation));
    }

    /// <summary>Mixed into the seed so the split's permutation differs from the first epoch's shuffle.</summary>
    private const ulong ValidationKey = 0x5EED_0F_5A11D;
}
