using System.Globalization;
using Engine.Training;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>Sees the running statistics after each training batch.</summary>
public delegate void BatchReporter(int epoch, int batch, int batches, EpochStats running);

/// <summary>Sees a finished epoch: its training statistics and the evaluations after it.</summary>
public delegate void EpochReporter(EpochRecord epoch);

/// <summary>
/// How training reports progress: one JSON object per epoch (--json); one plain line per epoch when stdout is
/// not a terminal (CI logs: no cursor movement); or a live Spectre.Console progress bar with loss, accuracy and
/// images/s, keeping each finished epoch's line above it.
/// </summary>
public sealed class TrainReport(CliContext context, bool json, int epochs)
{
    /// <summary>Batches between refreshes of the bar's description (it redraws a few times a second anyway).</summary>
    private const int DescriptionInterval = 8;

    public void Run(Action<BatchReporter, EpochReporter> training)
    {
        BatchReporter quiet = (_, _, _, _) => { };
        if (json) training(quiet, WriteJson);
        else if (!context.Interactive) training(quiet, record =>
        {
            context.Out.WriteLine(EpochLine(record));
            context.Out.Flush();
        });
        else RunWithProgressBar(training);
    }

    private void RunWithProgressBar(Action<BatchReporter, EpochReporter> training)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(context.Out) });
        console.Progress()
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(progress =>
            {
                ProgressTask? task = null;
                training(
                    (epoch, batch, batches, running) =>
                    {
                        task ??= progress.AddTask(Markup.Escape(BarText(epoch, running)), maxValue: batches);
                        task.Value = batch;
                        if (batch % DescriptionInterval == 0) task.Description = Markup.Escape(BarText(epoch, running));
                    },
                    record =>
                    {
                        task?.StopTask();
                        task = null;
                        console.WriteLine(EpochLine(record));
                    });
            });
    }

    private string BarText(int epoch, EpochStats running) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {epoch + 1}/{epochs}  loss {running.Loss:F4}  acc {Format.Percent(running.Accuracy, 1)}  {running.ImagesPerSecond:N0} img/s");

    /// <summary>
    /// "epoch 1/5: train loss 0.4123, accuracy 87.21% | val loss ..., accuracy ... (best) | test loss ..., accuracy ...,
    /// top-5 ... | lr 0.0300 | 5,432 images/s, 1.47 s"; the val part only with a validation split.
    /// </summary>
    public string EpochLine(EpochRecord record)
    {
        var (train, validation, test) = (record.Train, record.Validation, record.Test);
        var line = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"epoch {record.Epoch + 1}/{epochs}: train loss {train.Loss:F4}, accuracy {Format.Percent(train.Accuracy)}"));
        if (validation is { } v)
            line.Append(CultureInfo.InvariantCulture, $" | val loss {v.Loss:F4}, accuracy {Format.Percent(v.Accuracy)}{(record.Improved ? " (best)" : "")}");
        if (test is { } t)
            line.Append(CultureInfo.InvariantCulture, $" | test loss {t.Loss:F4}, accuracy {Format.Percent(t.Accuracy)}, top-5 {Format.Percent(t.Top5Accuracy)}");
        line.Append(CultureInfo.InvariantCulture, $" | lr {record.LearningRate:G4} | {train.ImagesPerSecond:N0} images/s, {train.Seconds:F2} s");
        return line.ToString();
    }

    private void WriteJson(EpochRecord record) => JsonLine.Write(context.Out, w =>
    {
        w.WriteNumber("epoch", record.Epoch + 1);
        w.Number("train_loss", record.Train.Loss);
        w.Number("train_accuracy", record.Train.Accuracy);
        if (record.Validation is { } v)
        {
            w.Number("val_loss", v.Loss);
            w.Number("val_accuracy", v.Accuracy);
            w.WriteBoolean("best", record.Improved);
        }
        if (record.Test is { } t)
        {
            w.Number("test_loss", t.Loss);
            w.Number("test_accuracy", t.Accuracy);
            w.Number("test_top5_accuracy", t.Top5Accuracy);
        }
        w.Number("learning_rate", record.LearningRate);
        w.Number("images_per_second", record.Train.ImagesPerSecond);
        w.Number("seconds", record.Train.Seconds);
    });
}
