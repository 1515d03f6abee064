namespace Engine.Data;

/// <summary>
/// Images (N x C x H x W, already normalized floats) with class labels, held in memory.
/// </summary>
public sealed class Dataset
{
    public Dataset(float[] images, int[] labels, Shape itemShape, int classes)
    {
        if (itemShape.Rank != 3)
            throw new ArgumentException($"dataset: expected an item shape (C,H,W), got {itemShape}");
        if (labels.Length == 0 || images.Length != (long)labels.Length * itemShape.Size)
            throw new ArgumentException($"dataset: {labels.Length} labels do not match {images.Length} image values of shape {itemShape} ({images.Length / Math.Max(itemShape.Size, 1)} images)");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"dataset: label {i} is {labels[i]}; expected a class in [0, {classes})");
        Images = images;
        Labels = labels;
        ItemShape = itemShape;
        Classes = classes;
    }

    public float[] Images { get; }
    public int[] Labels { get; }
    public Shape ItemShape { get; }
    public int Classes { get; }
    public int Count => Labels.Length;

    /// <summary>The name of each class (from folder names or a data set's metadata), when known.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>The per-channel normalization applied to pixels in [0, 1], when known (to prepare new inputs alike).</summary>
    public ChannelNormalization? Normalization { get; init; }

    /// <summary>MNIST's usual normalization: mean and standard deviation of the training pixels in [0, 1].</summary>
    public const float MnistMean = 0.1307f, MnistStd = 0.3081f;

    /// <summary>
    /// Loads an MNIST-format pair of IDX files (images N x H x W bytes, labels N bytes), scaling pixels to [0, 1]
    /// and normalizing with (x - mean) / std.
    /// </summary>
    public static Dataset FromIdx(string imagesPath, string labelsPath, float mean = MnistMean, float std = MnistStd, int classes = 10)
    {
        var images = Idx.Read(imagesPath);
        var labels = Idx.Read(labelsPath);
        if (images.Dimensions.Length != 3)
            throw new InvalidDataException($"IDX file '{imagesPath}': expected images N x H x W, got {images.Dimensions.Length} dimensions ({string.Join('x', images.Dimensions)})");
        if (labels.Dimensions.Length != 1)
            throw new InvalidDataException($"IDX file '{labelsPath}': expected labels N, got {labels.Dimensions.Length} dimensions ({string.Join('x', labels.Dimensions)})");
        if (labels.Count != images.Count)
            throw new InvalidDataException($"labels do not match images: '{labelsPath}' has {labels.Count} labels, '{imagesPath}' has {images.Count} images");
        var pixels = new float[images.Data.Length];
        float scale = 1f / (255f * std), shift = mean / std;
        for (int i = 0; i < pixels.Length; i++) pixels[i] = images.Data[i] * scale - shift;
        var labelValues = new int[labels.Count];
        for (int i = 0; i < labelValues.Length; i++)
        {
            labelValues[i] = labels.Data[i];
            if (labelValues[i] >= classes)
                throw new InvalidDataException($"IDX file '{labelsPath}': label {i} is {labelValues[i]}; expected a class in [0, {classes})");
        }
        return new Dataset(pixels, labelValues, new Shape(1, images.Dimensions[1], images.Dimensions[2]), classes);
    }

    /// <summary>
    /// The MNIST-named files in <paramref name="directory"/> (train-images-idx3-ubyte, train-labels-idx1-ubyte,
    /// t10k-...; each raw or .gz).
    /// </summary>
    public static (Dataset Train, Dataset Test) MnistFromDirectory(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"data directory '{directory}' does not exist");
        string Find(string stem)
        {
            foreach (var candidate in new[] { stem, stem + ".gz" })
            {
                var path = System.IO.Path.Combine(directory, candidate);
                if (File.Exists(path)) return path;
            }
            throw new FileNotFoundException($"data directory '{directory}' has no '{stem}' or '{stem}.gz' (expected MNIST-named IDX files)");
        }
        var train = FromIdx(Find("train-images-idx3-ubyte"), Find("train-labels-idx1-ubyte"));
        var test = FromIdx(Find("t10k-images-idx3-ubyte"), Find("t10k-labels-idx1-ubyte"));
        return (train, test);
    }
}
