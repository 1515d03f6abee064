using Engine.Data;

namespace Engine.Cli;

/// <summary>The data options shared by train and eval: where the data is (MNIST-format IDX files, CIFAR-10/100
/// binary files or image folders), and how many images to use.</summary>
public static partial class DataOptions
{
    public const string BundledName = "data/mnist-10k";

    public static readonly OptionSpec Data = new("data", "DIR",
        "directory with MNIST-named IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...; raw or .gz), " +
        "CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin), CIFAR-100 binary files (train.bin, test.bin), " +
        "or image folders train/CLASS/*.png|pgm|ppm and test/CLASS/...",
        "the bundled " + BundledName);

    public static readonly OptionSpec Limit = new("limit", "N", "use only the first N images of each split (quick runs)", "all");

    /// <summary>
    /// The bundled digits: next to the program (the project copies them there), else the repository's copy found
    /// from the current directory upwards.
    /// </summary>
    public static string DefaultDirectory()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "data", "mnist-10k");
        if (Directory.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "data", "mnist-10k");
            if (Directory.Exists(candidate)) return candidate;
        }
        return beside;
    }

    /// <summary>The directory the options name (or the default), and its train and test splits, cut to --limit.</summary>
    public static (string Directory, Dataset Train, Dataset Test) Load(ParsedOptions options)
    {
        var data = LoadData(options);
        return (data.Directory, data.Train, data.Test);
    }

    /// <summary>The first <paramref name="count"/> items (the whole set when it has no more).</summary>
    public static Dataset Take(Dataset dataset, int count)
    {
        if (count >= dataset.Count) return dataset;
        int item = dataset.ItemShape.Size;
        return new Dataset(dataset.Images[..(count * item)], dataset.Labels[..count], dataset.ItemShape, dataset.Classes)
        {
            ClassNames = dataset.ClassNames,
            Normalization = dataset.Normalization,
        };
    }
}
