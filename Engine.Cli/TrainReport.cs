using System.Globalization;
using Engine.Training;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>Sees the running statistics after each training batch.</summary>
public delegate void BatchReporter(int epoch, int batch, int batches, EpochStats running);

/// <summary>Sees an epoch's training statistics and the test evaluation after it.</summary>
public delegate void EpochReporter(int epoch, EpochStats train, EpochStats test);

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
        else if (!context.Interactive) training(quiet, (epoch, train, test) => context.Out.WriteLine(EpochLine(epoch, train, test)));
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
                    (epoch, train, test) =>
                    {
                        task?.StopTask();
                        task = null;
                        console.WriteLine(EpochLine(epoch, train, test));
                    });
            });
    }

    private string BarText(int epoch, EpochStats running) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {epoch + 1}/{epochs}  loss {running.Loss:F4}  acc {Format.Percent(running.Accuracy, 1)}  {running.ImagesPerSecond:N0} img/s");

    /// <summary>"epoch 1/5: train loss 0.4123, accuracy 87.21% | test loss ..., accuracy ... | 5,432 images/s, 1.47 s".</summary>
    public string EpochLine(int epoch, EpochStats train, EpochStats test) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {epoch + 1}/{epochs}: train loss {train.Loss:F4}, accuracy {Format.Percent(train.Accuracy)} | test loss {test.Loss:F4}, accuracy {Format.Percent(test.Accuracy)} | " +
        $"{train.ImagesPerSecond:N0} images/s, {train.Seconds:F2} s");

    private void WriteJson(int epoch, EpochStats train, EpochStats test) => JsonLine.Write(context.Out, w =>
    {
        w.WriteNumber("epoch", epoch + 1);
        w.Number("train_loss", train.Loss);
        w.Number("train_accuracy", train.Accuracy);
        w.Number("test_loss", test.Loss);
        w.Number("test_accuracy", test.Accuracy);
        w.Number("images_per_second", train.ImagesPerSecond);
        w.Number("seconds", train.Seconds);
    });
}
