using System.Globalization;
using Engine.Data;
using Engine.Models;
using Engine.Nn;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>"engine eval": loads a checkpoint written by train and measures it on a test split.</summary>
public static class EvalCommand
{
    public static readonly CommandSpec Spec = new("eval", "Evaluate a saved model (from 'engine train') on the test split of MNIST-format data.",
    [
        new("model-file", "FILE", "the safetensors checkpoint to evaluate (from train; or use --model with --weights)"),
        new("model", "NAME", $"with --weights: the zoo model ({string.Join(", ", ModelZoo.Names)}), built for the data's classes and channels"),
        new("weights", "FILE", "with --model: its weights, safetensors or a PyTorch .pt/.pth state_dict with torchvision's names"),
        DataOptions.Data,
        new("batch-size", "N", "images per forward pass", TrainCommand.EvalBatchSize.ToString(CultureInfo.InvariantCulture)),
        new("threads", "N", "CPU threads (0: one per core)", "0"),
        BackendOptions.Backend,
        DataOptions.Limit,
        new("json", null, "print one JSON object (test_loss, test_accuracy, images) and nothing else"),
    ]);

    public static int Run(ParsedOptions options, CliContext context)
    {
        int batchSize = options.Int("batch-size", TrainCommand.EvalBatchSize, min: 1);
        int threads = options.Int("threads", 0, min: 0);
        var (file, info, model, test, directory) = LoadModel(options);
        if (test.ItemShape[0] != info.InChannels || test.Classes > info.NumClasses)
            throw new InvalidDataException($"'{file}' holds a model for {info.InChannels}-channel images and {info.NumClasses} classes; {directory} has {test.ItemShape[0]}-channel images and {test.Classes} classes");
        var backend = BackendOptions.Create(options, threads);
        using var disposeBackend = backend as IDisposable;
        model.To(backend);
        var stats = Trainer.Evaluate(model, new DataLoader(test, batchSize), backend);
        if (options.Flag("json"))
        {
            JsonLine.Write(context.Out, w =>
            {
                w.Number("test_loss", stats.Loss);
                w.Number("test_accuracy", stats.Accuracy);
                w.WriteNumber("images", stats.Images);
            });
            return 0;
        }
        context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{info.Model} from {file} on {directory}: test loss {stats.Loss:F4}, accuracy {Format.Percent(stats.Accuracy)} ({stats.Images:N0} images, {stats.ImagesPerSecond:N0} images/s)"));
        return 0;
    }

    /// <summary>The model from --model-file (a train checkpoint), or --model built for the data with --weights loaded.</summary>
    private static (string File, CheckpointInfo Info, Module Model, Dataset Test, string Directory) LoadModel(ParsedOptions options)
    {
        string? weights = options.String("weights"), name = options.String("model");
        if (weights is null && name is null)
        {
            string file = options.Required("model-file");
            var checkpoint = Checkpoint.Load(file);
            var model = ModelZoo.Create(checkpoint.Info.Model, checkpoint.Info.NumClasses, checkpoint.Info.InChannels);
            checkpoint.LoadInto(model);
            var (directory, _, test) = DataOptions.Load(options);
            return (file, checkpoint.Info, model, test, directory);
        }
        if (weights is null || name is null || options.Has("model-file"))
            throw new UsageException("eval: give either --model-file FILE, or --model NAME with --weights FILE");
        ModelZoo.Find(name);
        var (dataDirectory, _, data) = DataOptions.Load(options);
        var info = new CheckpointInfo(name, data.Classes, data.ItemShape[0]);
        return (weights, info, ModelZoo.Create(name, info.NumClasses, info.InChannels, weights: weights), data, dataDirectory);
    }
}
