using System.Globalization;
using Engine.Data;
using Engine.Imaging;
using Engine.Models;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// "engine predict": classifies image files with a checkpoint written by train and prints the top classes with
/// their softmax probabilities.
/// </summary>
public static class PredictCommand
{
    public const int DefaultTop = 5;

    public static readonly CommandSpec Spec = new("predict", "Classify PNG, PGM or PPM images with a saved model: predict --model-file F IMAGE... (top-5 classes with probabilities).",
    [
        new("model-file", "FILE", "the safetensors checkpoint (from 'engine train') (required)"),
        new("top", "K", "how many classes to print per image", DefaultTop.ToString(CultureInfo.InvariantCulture)),
        new("threads", "N", "CPU threads (0: one per core)", "0"),
        BackendOptions.Backend,
        new("json", null, "print one JSON object per image (file, predictions: [{class, name, probability}]) and nothing else"),
    ],
    "Each image is converted to the checkpoint's channels (RGB to grey by Rec. 601 luma; grey repeated to RGB; alpha dropped),\n" +
    "resized bilinearly to the checkpoint's input size (input_height x input_width, else the model's usual size),\n" +
    "scaled to [0, 1] and normalized with the checkpoint's input_mean and input_std (else MNIST's 0.1307 and 0.3081 for one channel,\n" +
    "none otherwise). Class names come from the checkpoint's class_names when train knew them (Fashion-MNIST, CIFAR, image folders).")
    {
        Positional = "IMAGE...",
    };

    public static int Run(ParsedOptions options, CliContext context)
    {
        string file = options.Required("model-file");
        int top = options.Int("top", DefaultTop, min: 1);
        var images = options.Positionals;
        if (images.Count == 0) throw new UsageException("predict: expected at least one IMAGE file after the options (see 'engine predict --help')");
        var checkpoint = Checkpoint.Load(file);
        var input = ModelInput.From(checkpoint);
        var model = ModelZoo.Create(checkpoint.Info.Model, checkpoint.Info.NumClasses, checkpoint.Info.InChannels);
        checkpoint.LoadInto(model);
        var backend = BackendOptions.Create(options, options.Int("threads", 0, min: 0));
        using var disposeBackend = backend as IDisposable;
        model.To(backend);
        model.Eval();
        int k = Math.Min(top, checkpoint.Info.NumClasses);
        foreach (var path in images)
        {
            var pixels = input.Prepare(Image.Load(path));
            float[] probabilities;
            using (Scope.Begin())
            using (Autograd.NoGrad())
            {
                var logits = model.Forward(Tensor.FromArray(backend, pixels, new Shape(1, input.Channels, input.Height, input.Width)));
                probabilities = Metrics.Softmax(logits.ToArray());
            }
            var best = Enumerable.Range(0, probabilities.Length).OrderByDescending(c => probabilities[c]).ThenBy(c => c).Take(k).ToArray();
            if (options.Flag("json"))
            {
                JsonLine.Write(context.Out, w =>
                {
                    w.WriteString("file", path);
                    w.WriteStartArray("predictions");
                    foreach (int c in best)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("class", c);
                        w.WriteString("name", input.Name(c));
                        w.Number("probability", probabilities[c]);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
                continue;
            }
            context.Out.WriteLine($"{path}:");
            foreach (int c in best)
                context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {Format.Percent(probabilities[c]),7}  {c,3}  {input.Name(c)}"));
        }
        return 0;
    }
}

/// <summary>What a checkpoint's model takes as input (channels, size, normalization) and the names of its classes.</summary>
public sealed record ModelInput(int Channels, int Height, int Width, ChannelNormalization? Normalization, IReadOnlyList<string>? ClassNames)
{
    public string Name(int c) => ClassNames is not null && c < ClassNames.Count ? ClassNames[c] : c.ToString(CultureInfo.InvariantCulture);

    /// <summary>From the metadata train writes; missing keys fall back to the zoo entry's usual size and MNIST's normalization for one channel.</summary>
    public static ModelInput From(LoadedCheckpoint checkpoint)
    {
        var metadata = checkpoint.Content.Metadata;
        var entry = ModelZoo.Find(checkpoint.Info.Model);
        int channels = checkpoint.Info.InChannels;
        int Size(string key, int fallback)
        {
            if (!metadata.TryGetValue(key, out var text)) return fallback;
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
                ? value
                : throw new InvalidDataException($"checkpoint '{checkpoint.File}': metadata '{key}' should be a positive integer, got '{text}'");
        }
        float[]? Floats(string key)
        {
            if (!metadata.TryGetValue(key, out var text)) return null;
            var parts = text.Split(',');
            var values = new float[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                    throw new InvalidDataException($"checkpoint '{checkpoint.File}': metadata '{key}' should be {channels} comma-separated numbers, got '{text}'");
            return values;
        }
        var (mean, std) = (Floats(TrainSession.InputMeanKey), Floats(TrainSession.InputStdKey));
        ChannelNormalization? normalization = mean is not null && std is not null ? new ChannelNormalization(mean, std)
            : channels == 1 ? new ChannelNormalization([Dataset.MnistMean], [Dataset.MnistStd]) : null;
        if (normalization is not null && normalization.Channels != channels)
            throw new InvalidDataException($"checkpoint '{checkpoint.File}': normalization has {normalization.Channels} channels; the model takes {channels}");
        IReadOnlyList<string>? names = null;
        if (metadata.TryGetValue(TrainSession.ClassNamesKey, out var json))
        {
            names = TrainSession.ParseNames(json) ?? throw new InvalidDataException($"checkpoint '{checkpoint.File}': metadata '{TrainSession.ClassNamesKey}' should be a JSON array of strings, got '{json}'");
        }
        return new ModelInput(channels, Size(TrainSession.InputHeightKey, entry.InputHeight), Size(TrainSession.InputWidthKey, entry.InputWidth), normalization, names);
    }

    /// <summary>C x H x W floats: channels converted, resized bilinearly, scaled to [0, 1], normalized.</summary>
    public float[] Prepare(Image image)
    {
        var pixels = image.WithChannels(Channels).Resize(Width, Height).ToChw();
        Normalization?.Apply(pixels, Width * Height);
        return pixels;
    }
}
