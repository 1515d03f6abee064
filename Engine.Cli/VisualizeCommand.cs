using System.Globalization;
using Engine.Data;
using Engine.Imaging;
using Engine.Models;
using Engine.Nn;
using Engine.Serialization;
using Engine.Visualization;

namespace Engine.Cli;

/// <summary>"engine visualize": pictures of what a trained model learned, written as PNG files.</summary>
public static class VisualizeCommand
{
    public const string Filters = "filters", Features = "features", Maximize = "maximize", Kernels = "kernels", Examples = "examples";

    public static readonly CommandSpec Spec = new("visualize", "Write PNG pictures of a model: conv filters, feature maps, activation maximization, dataset examples; or classic kernels on an image.",
    [
        new("what", "KIND", $"{Filters} (a conv layer's weights), {Features} (a layer's output for --image), {Maximize} (gradient ascent on the input), {Examples} (the test images that most activate a channel), {Kernels} (Sobel, blur, sharpen, Laplacian on --image; no model)"),
        new("model-file", "FILE", "the safetensors checkpoint written by 'engine train' (all kinds but kernels)"),
        new("layer", "NAME", "a layer's dotted name (features.3) or a weight's state-dict name (features.3.weight); 'output' is the model's logits", "the first conv weight for filters, 'output' otherwise"),
        new("image", "FILE", "input picture (PNG, PGM or PPM), resized to the model's input"),
        new("channel", "N", "maximize/examples: the channel (feature map, feature or class) of --layer", "0"),
        new("class", "N", "maximize: a class logit of the output (the same as --layer output --channel N)"),
        new("neuron", "ROW,COL", "maximize: one neuron of the channel's feature map instead of its mean"),
        new("steps", "N", "maximize: gradient ascent steps", "128"),
        DataOptions.Data,
        DataOptions.Limit,
        new("count", "N", "examples: how many images", "16"),
        new("seed", "N", "maximize: seed of the starting noise and of the jitter", "1"),
        new("threads", "N", "CPU threads (0: one per core)", "0"),
        BackendOptions.Backend,
        new("out", "PATH", $"the PNG to write (for {Kernels}: a directory, one PNG per kernel)"),
    ],
    "Examples: engine visualize --what filters --model-file lenet5.safetensors --out filters.png\n" +
    "          engine visualize --what maximize --model-file lenet5.safetensors --class 3 --out three.png\n" +
    "          engine visualize --what kernels --image photo.png --out kernels/");

    public static int Run(ParsedOptions options, CliContext context)
    {
        string what = options.Choice("what", options.Required("what"), Filters, Features, Maximize, Kernels, Examples);
        string output = options.Required("out");
        var backend = BackendOptions.Create(options, options.Int("threads", 0, min: 0));
        using var disposeBackend = backend as IDisposable;
        if (what == Kernels) return WriteKernels(options, context, backend, output);

        var (model, checkpoint, entry) = LoadModel(options.Required("model-file"));
        model.To(backend);
        var input = InputOf(checkpoint, entry);
        switch (what)
        {
            case Filters:
            {
                string name = options.String("layer") ?? FirstConvWeight(model);
                Save(context, Visualization.Filters.Render(model, name), output, $"filters of {name} {Visualization.Filters.Weight(model, name).Shape}");
                return 0;
            }
            case Features:
            {
                string layer = options.String("layer", Layers.Output);
                using var scope = Scope.Begin();
                var image = Tensor.FromArray(backend, input.Prepare(Image.Load(options.Required("image"))), input.Shape);
                var (values, shape) = FeatureMaps.Compute(model, layer, image);
                Save(context, FeatureMaps.Render(values, shape), output, $"feature maps of {layer} {shape}");
                return 0;
            }
            case Maximize:
                return WriteMaximization(options, context, model, input, backend, output);
            default:
            {
                string layer = options.String("layer", Layers.Output);
                int channel = options.Int("channel", 0, min: 0), count = options.Int("count", 16, min: 1);
                var (directory, _, test) = DataOptions.Load(options);
                var top = DatasetExamples.Top(model, layer, channel, test, backend, count);
                Save(context, DatasetExamples.Render(test, top.Select(t => t.Index)), output,
                    string.Create(CultureInfo.InvariantCulture, $"the {top.Count} test images of {directory} that most activate {layer} channel {channel} (max activations {top[0].Score:G4} to {top[^1].Score:G4}): {string.Join(' ', top.Select(t => t.Index))}"));
                return 0;
            }
        }
    }

    private static int WriteMaximization(ParsedOptions options, CliContext context, Module model, ModelInput input, IBackend backend, string output)
    {
        var target = options.String("class") is not null
            ? ActivationTarget.Class(options.Int("class", 0, min: 0))
            : new ActivationTarget(options.String("layer", Layers.Output), options.Int("channel", 0, min: 0));
        if (options.String("neuron") is { } neuron)
        {
            var parts = neuron.Split(',');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int row) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int column))
                throw new UsageException($"visualize: option '--neuron' expects ROW,COL (two non-negative integers), got '{neuron}'");
            target = target with { Row = row, Column = column };
        }
        var (low, high) = input.Range;
        var settings = new MaximizationSettings(Steps: options.Int("steps", 128, min: 1), Low: low, High: high, Seed: options.ULong("seed", 1));
        var result = ActivationMaximization.Run(model, target, input.Shape, backend, settings);
        string factor = float.IsNaN(result.Factor) ? "" : string.Create(CultureInfo.InvariantCulture, $" (x{result.Factor:G3})");
        var picture = Image.FromChw(result.Input, input.Shape.Channels, input.Shape.Height, input.Shape.Width, low, high);
        Save(context, Pictures.Enlarge(picture, Pictures.ScaleFor(input.Shape.Height, 112)), output,
            string.Create(CultureInfo.InvariantCulture, $"activation maximization of {target}: {result.StartActivation:G4} on the starting noise, {result.FinalActivation:G4} after {settings.Steps} steps{factor}"));
        return 0;
    }

    private static int WriteKernels(ParsedOptions options, CliContext context, IBackend backend, string directory)
    {
        var image = Image.Load(options.Required("image"));
        image = image.WithChannels(image.Channels >= 3 ? 3 : 1);
        Directory.CreateDirectory(directory);
        image.Save(Path.Combine(directory, "input.png"));
        foreach (var (kernel, picture) in ClassicKernels.Render(image, backend))
            Save(context, picture, Path.Combine(directory, ClassicKernels.FileName(kernel) + ".png"), $"{ClassicKernels.FileName(kernel)} of {image}");
        return 0;
    }

    private static void Save(CliContext context, Image picture, string path, string what)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null && !Directory.Exists(directory))
            throw new UsageException($"visualize: the directory of --out '{path}' does not exist");
        picture.Save(path);
        context.Out.WriteLine($"{what}: wrote {path} ({picture})");
    }

    private static (Module Model, LoadedCheckpoint Checkpoint, ModelEntry Entry) LoadModel(string file)
    {
        var checkpoint = Checkpoint.Load(file);
        var entry = ModelZoo.Find(checkpoint.Info.Model);
        var model = ModelZoo.Create(checkpoint.Info.Model, checkpoint.Info.NumClasses, checkpoint.Info.InChannels);
        checkpoint.LoadInto(model);
        return (model, checkpoint, entry);
    }

    private static string FirstConvWeight(Module model) =>
        model.NamedState().FirstOrDefault(s => s.Parameter.Shape.Rank == 4 && s.Name.EndsWith(".weight", StringComparison.Ordinal)).Name
        ?? throw new ArgumentException($"{model.Describe()} has no convolution weight");

    /// <summary>
    /// The model's input: (1, C, H, W) at the zoo's size, and the normalization its training used: MNIST's for
    /// one-channel classifiers (train's data), none for segmentation (the shapes are [0, 1]) and other inputs.
    /// </summary>
    private static ModelInput InputOf(LoadedCheckpoint checkpoint, ModelEntry entry)
    {
        int channels = checkpoint.Info.InChannels;
        bool segmentation = checkpoint.Content.Metadata.TryGetValue("task", out var task) && task == SegmentationTrain.Segmentation;
        var normalization = channels == 1 && !segmentation
            ? new ChannelNormalization([Dataset.MnistMean], [Dataset.MnistStd])
            : ChannelNormalization.Identity(channels);
        return new ModelInput(new Shape(1, channels, entry.InputHeight, entry.InputWidth), normalization);
    }

    private sealed record ModelInput(Shape Shape, ChannelNormalization Normalization)
    {
        /// <summary>The input values pixels 0 and 1 become (of the first channel).</summary>
        public (float Low, float High) Range => (-Normalization.Mean[0] / Normalization.Std[0], (1f - Normalization.Mean[0]) / Normalization.Std[0]);

        public float[] Prepare(Image image)
        {
            var values = image.WithChannels(Shape.Channels).Resize(Shape.Width, Shape.Height).ToChw();
            Normalization.Apply(values, Shape.Height * Shape.Width);
            return values;
        }
    }
}
