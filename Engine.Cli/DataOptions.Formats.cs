using Engine.Data;

namespace Engine.Cli;

/// <summary>The kinds of data --data can name; each has its own default training recipe (TrainRecipe).</summary>
public enum DataKind { Mnist, FashionMnist, Cifar10, Cifar100, ImageFolder }

/// <summary>Loaded train and test splits, what kind of data they are, and where they came from.</summary>
public sealed record LoadedData(string Directory, DataKind Kind, Dataset Train, Dataset Test)
{
    /// <summary>"fashion-mnist", "cifar-10", ...: the name stored in checkpoints and shown in reports.</summary>
    public string KindName => Kind switch
    {
        DataKind.FashionMnist => "fashion-mnist",
        DataKind.Cifar10 => "cifar-10",
        DataKind.Cifar100 => "cifar-100",
        DataKind.ImageFolder => "image-folder",
        _ => "mnist",
    };
}

public static partial class DataOptions
{
    /// <summary>The ten Fashion-MNIST classes in label order (Xiao, Rasul and Vollgraf 2017).</summary>
    public static readonly string[] FashionMnistClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The ten CIFAR-10 classes in label order (used when batches.meta.txt is absent).</summary>
    public static readonly string[] Cifar10Classes =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>
    /// Reads the directory --data names (or the bundled digits), recognising its format: CIFAR-10 when it (or its
    /// cifar-10-batches-bin folder) has test_batch.bin; CIFAR-100 when it (or cifar-100-binary) has test.bin;
    /// image folders when it has train/ and test/ sub-folders; otherwise MNIST-named IDX files, which are
    /// Fashion-MNIST when the directory's name contains "fashion". Both splits are cut to --limit.
    /// </summary>
    public static LoadedData LoadData(ParsedOptions options)
    {
        string directory = options.String(Data.Name) ?? DefaultDirectory();
        int limit = options.Int(Limit.Name, int.MaxValue, min: 1);
        var (kind, train, test) = Read(directory);
        return new LoadedData(directory, kind, Take(train, limit), Take(test, limit));
    }

    private static (DataKind Kind, Dataset Train, Dataset Test) Read(string directory)
    {
        bool Has(params string[] parts) => File.Exists(Path.Combine([directory, .. parts]));
        if (Has(Cifar.Cifar10TestFile) || Has("cifar-10-batches-bin", Cifar.Cifar10TestFile))
        {
            var (train, test) = Cifar.Cifar10FromDirectory(directory);
            return (DataKind.Cifar10, WithNames(train, Cifar10Classes), WithNames(test, Cifar10Classes));
        }
        if (Has(Cifar.Cifar100TestFile) || Has("cifar-100-binary", Cifar.Cifar100TestFile))
        {
            var (train, test) = Cifar.Cifar100FromDirectory(directory);
            return (DataKind.Cifar100, train, test);
        }
        string trainFolder = Path.Combine(directory, "train"), testFolder = Path.Combine(directory, "test");
        if (Directory.Exists(trainFolder) && Directory.Exists(testFolder))
        {
            var train = ImageFolder.Load(trainFolder);
            var test = ImageFolder.Load(testFolder, (train.ItemShape.Width, train.ItemShape.Height), train.ItemShape[0], train.Normalization);
            if (!test.ClassNames!.SequenceEqual(train.ClassNames!))
                throw new InvalidDataException($"image folders in '{directory}': train has classes [{string.Join(", ", train.ClassNames!)}], test has [{string.Join(", ", test.ClassNames!)}]; expected the same");
            return (DataKind.ImageFolder, train, test);
        }
        var (idxTrain, idxTest) = Dataset.MnistFromDirectory(directory);
        bool fashion = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))).Contains("fashion", StringComparison.OrdinalIgnoreCase);
        string[] names = fashion ? FashionMnistClasses : Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return (fashion ? DataKind.FashionMnist : DataKind.Mnist, WithNames(idxTrain, names), WithNames(idxTest, names));
    }

    /// <summary>The same images with class names (kept when the data already has its own) and, for IDX data, the normalization FromIdx applied.</summary>
    private static Dataset WithNames(Dataset dataset, string[] names) => new(dataset.Images, dataset.Labels, dataset.ItemShape, dataset.Classes)
    {
        ClassNames = dataset.ClassNames ?? (names.Length == dataset.Classes ? names : null),
        Normalization = dataset.Normalization ?? new ChannelNormalization([Dataset.MnistMean], [Dataset.MnistStd]),
    };
}
