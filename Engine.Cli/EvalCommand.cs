using System.Globalization;
using Engine.Data;
using Engine.Models;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>"engine eval": loads a checkpoint written by train and measures it on a test split.</summary>
public static class EvalCommand
{
    public static readonly CommandSpec Spec = new("eval", "Evaluate a saved model (from 'engine train') on the test split of MNIST-format data.",
    [
        new("model-file", "FILE", "the safetensors checkpoint to evaluate (required)"),
        DataOptions.Data,
        new("batch-size", "N", "images per forward pass", TrainCommand.EvalBatchSize.ToString(CultureInfo.InvariantCulture)),
        new("threads", "N", "CPU threads (0: one per core)", "0"),
        BackendOptions.Backend,
        DataOptions.Limit,
        new("json", null, "print one JSON object (test_loss, test_accuracy, images) and nothing else"),
    ]);

    public static int Run(ParsedOptions options, CliContext context)
    {
        string file = options.Required("model-file");
        int batchSize = options.Int("batch-size", TrainCommand.EvalBatchSize, min: 1);
        int threads = options.Int("threads", 0, min: 0);
        var checkpoint = Checkpoint.Load(file);
        var model = ModelZoo.Create(checkpoint.Info.Model, checkpoint.Info.NumClasses, checkpoint.Info.InChannels);
        checkpoint.LoadInto(model);
        var (directory, _, test) = DataOptions.Load(options);
        if (test.ItemShape[0] != checkpoint.Info.InChannels || test.Classes > checkpoint.Info.NumClasses)
            throw new InvalidDataException($"'{file}' holds a model for {checkpoint.Info.InChannels}-channel images and {checkpoint.Info.NumClasses} classes; {directory} has {test.ItemShape[0]}-channel images and {test.Classes} classes");
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
            $"{checkpoint.Info.Model} from {file} on {directory}: test loss {stats.Loss:F4}, accuracy {Format.Percent(stats.Accuracy)} ({stats.Images:N0} images, {stats.ImagesPerSecond:N0} images/s)"));
        return 0;
    }
}
