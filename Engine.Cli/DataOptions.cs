using Engine.Data;

namespace Engine.Cli;

/// <summary>The data options shared by train and eval: where the MNIST-named IDX files are, and how many to use.</summary>
public static class DataOptions
{
    public const string BundledName = "data/mnist-10k";

    public static readonly OptionSpec Data = new("data", "DIR",
        "directory with MNIST-named IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...; raw or .gz)",
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
        string directory = options.String(Data.Name) ?? DefaultDirectory();
        int limit = options.Int(Limit.Name, int.MaxValue, min: 1);
        var (train, test) = Dataset.MnistFromDirectory(directory);
        return (directory, Take(train, limit), Take(test, limit));
    }

    /// <summary>The first <paramref name="count"/> items (the whole set when it has no more).</summary>
    public static Dataset Take(Dataset dataset, int count)
    {
        if (count >= dataset.Count) return dataset;
        int item = dataset.ItemShape.Size;
        return new Dataset(dataset.Images[..(count * item)], dataset.Labels[..count], dataset.ItemShape, dataset.Classes);
    }
}
