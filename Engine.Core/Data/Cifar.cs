namespace Engine.Data;

/// <summary>Which CIFAR-100 label to use: the 100 fine classes or the 20 coarse superclasses.</summary>
public enum CifarLabels { Fine, Coarse }

/// <summary>
/// The binary CIFAR formats. CIFAR-10 (data_batch_1..5.bin, test_batch.bin): records of 1 label byte (0..9)
/// and 3072 pixel bytes. CIFAR-100 (train.bin, test.bin): records of a coarse label byte (0..19), a fine label
/// byte (0..99) and 3072 pixel bytes. The pixels are 3 x 32 x 32, channel planes R, G, B, rows top to bottom,
/// which is already the C x H x W layout of a <see cref="Dataset"/>.
/// </summary>
public static class Cifar
{
    public const int Channels = 3, Side = 32, ImageBytes = Channels * Side * Side;

    public static readonly string[] Cifar10TrainFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    public const string Cifar10TestFile = "test_batch.bin", Cifar100TrainFile = "train.bin", Cifar100TestFile = "test.bin";

    /// <summary>
    /// Reads records of <paramref name="labelBytes"/> label bytes and 3072 pixels, keeping label byte
    /// <paramref name="labelIndex"/>; any size that is not whole records, or a label outside [0, classes), is an
    /// <see cref="InvalidDataException"/> naming the file.
    /// </summary>
    public static (byte[] Pixels, int[] Labels) ReadRecords(string path, int labelBytes, int labelIndex, int classes)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CIFAR file '{path}' does not exist", path);
        int record = labelBytes + ImageBytes;
        long length = new FileInfo(path).Length;
        if (length == 0 || length % record != 0)
            throw new InvalidDataException($"CIFAR file '{path}': {length} bytes is not a whole number of {record}-byte records ({labelBytes} label byte{(labelBytes > 1 ? "s" : "")} + {ImageBytes} pixels); {length / record} records and {length % record} bytes over");
        if (length / record * ImageBytes > Array.MaxLength)
            throw new InvalidDataException($"CIFAR file '{path}': {length / record} records are more than one array holds");
        int count = (int)(length / record);
        var pixels = new byte[(long)count * ImageBytes];
        var labels = new int[count];
        var buffer = new byte[record];
        using var file = File.OpenRead(path);
        for (int i = 0; i < count; i++)
        {
            file.ReadExactly(buffer);
            labels[i] = buffer[labelIndex];
            if (labels[i] >= classes)
                throw new InvalidDataException($"CIFAR file '{path}': record {i} has label {labels[i]}; expected a class in [0, {classes})");
            buffer.AsSpan(labelBytes).CopyTo(pixels.AsSpan(i * ImageBytes, ImageBytes));
        }
        return (pixels, labels);
    }

    /// <summary>CIFAR-10 batch files as one data set, pixels scaled to [0, 1] then normalized per channel.</summary>
    public static Dataset LoadCifar10(IEnumerable<string> files, ChannelNormalization? normalization = null, IReadOnlyList<string>? classNames = null) =>
        Load(files.Select(f => ReadRecords(f, 1, 0, 10)), 10, normalization ?? ChannelNormalization.Cifar10, classNames);

    /// <summary>A CIFAR-100 file with its fine (100) or coarse (20) labels.</summary>
    public static Dataset LoadCifar100(string file, CifarLabels labels = CifarLabels.Fine, ChannelNormalization? normalization = null, IReadOnlyList<string>? classNames = null)
    {
        int classes = labels == CifarLabels.Fine ? 100 : 20;
        return Load([ReadRecords(file, 2, labels == CifarLabels.Fine ? 1 : 0, classes)], classes, normalization ?? ChannelNormalization.Cifar100, classNames);
    }

    /// <summary>
    /// CIFAR-10 from <paramref name="directory"/> or its cifar-10-batches-bin sub-folder; class names from
    /// batches.meta.txt when present.
    /// </summary>
    public static (Dataset Train, Dataset Test) Cifar10FromDirectory(string directory, ChannelNormalization? normalization = null)
    {
        var root = Locate(directory, "cifar-10-batches-bin", Cifar10TestFile);
        var names = ReadNames(Path.Combine(root, "batches.meta.txt"), 10);
        var train = LoadCifar10(Cifar10TrainFiles.Select(f => Required(root, f)), normalization, names);
        var test = LoadCifar10([Required(root, Cifar10TestFile)], normalization, names);
        return (train, test);
    }

    /// <summary>
    /// CIFAR-100 from <paramref name="directory"/> or its cifar-100-binary sub-folder; class names from
    /// fine_label_names.txt or coarse_label_names.txt when present.
    /// </summary>
    public static (Dataset Train, Dataset Test) Cifar100FromDirectory(string directory, CifarLabels labels = CifarLabels.Fine, ChannelNormalization? normalization = null)
    {
        var root = Locate(directory, "cifar-100-binary", Cifar100TestFile);
        var names = labels == CifarLabels.Fine ? ReadNames(Path.Combine(root, "fine_label_names.txt"), 100) : ReadNames(Path.Combine(root, "coarse_label_names.txt"), 20);
        var train = LoadCifar100(Required(root, Cifar100TrainFile), labels, normalization, names);
        var test = LoadCifar100(Required(root, Cifar100TestFile), labels, normalization, names);
        return (train, test);
    }

    private static Dataset Load(IEnumerable<(byte[] Pixels, int[] Labels)> parts, int classes, ChannelNormalization normalization, IReadOnlyList<string>? classNames)
    {
        var list = parts.ToList();
        long total = list.Sum(p => (long)p.Pixels.Length);
        if (total > Array.MaxLength) throw new InvalidDataException($"CIFAR: {total} pixels are more than one array holds");
        if (normalization.Channels != Channels)
            throw new ArgumentException($"CIFAR: expected a normalization of {Channels} channels, got {normalization.Channels}");
        var images = new float[total];
        var labels = new int[list.Sum(p => p.Labels.Length)];
        int pixelOffset = 0, labelOffset = 0;
        foreach (var (pixels, partLabels) in list)
        {
            for (int i = 0; i < pixels.Length; i++) images[pixelOffset + i] = pixels[i] * (1f / 255f);
            partLabels.CopyTo(labels, labelOffset);
            pixelOffset += pixels.Length;
            labelOffset += partLabels.Length;
        }
        normalization.ApplyAll(images, Side * Side);
        return new Dataset(images, labels, new Shape(Channels, Side, Side), classes) { ClassNames = classNames, Normalization = normalization };
    }

    private static string Locate(string directory, string subFolder, string marker)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"CIFAR directory '{directory}' does not exist");
        var nested = Path.Combine(directory, subFolder);
        return !File.Exists(Path.Combine(directory, marker)) && Directory.Exists(nested) ? nested : directory;
    }

    private static string Required(string directory, string file)
    {
        var path = Path.Combine(directory, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"CIFAR directory '{directory}' has no '{file}'", path);
    }

    /// <summary>One class name per non-empty line, or null when the file is absent or has the wrong count.</summary>
    private static string[]? ReadNames(string path, int classes)
    {
        if (!File.Exists(path)) return null;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length == classes ? names : null;
    }
}
