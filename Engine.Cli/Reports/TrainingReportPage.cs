using System.Globalization;
using Engine.Data;
using Engine.Imaging;
using Engine.Nn;
using Engine.Training;

namespace Engine.Cli.Reports;

/// <summary>
/// The page "train --report DIR" writes to DIR/index.html: loss and accuracy curves per epoch, the test confusion
/// matrix as a heat map with per-class precision, recall and F1, the first convolution's filters, and test images
/// with predicted and true labels, mistakes first.
/// </summary>
public static class TrainingReportPage
{
    public const string FileName = "index.html";

    /// <summary>How many test images the grid shows.</summary>
    public const int GridImages = 64;

    /// <summary>Writes the page and returns its path.</summary>
    public static string Write(string directory, string modelName, Module model, LoadedData data, TrainingHistory history, Evaluation final, IBackend backend)
    {
        var names = Enumerable.Range(0, data.Test.Classes)
            .Select(c => data.Test.ClassNames is { } n && c < n.Count ? n[c] : c.ToString(CultureInfo.InvariantCulture)).ToArray();
        var page = new HtmlPage($"Training report: {modelName} on {data.KindName}");
        page.Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"{model.ParameterCount():N0} parameters; data {data.Directory}; {history.Epochs.Count} epochs{(history.StoppedEarly ? " (stopped early)" : "")}; " +
            $"final test accuracy {Format.Percent(final.Stats.Accuracy)}, top-5 {Format.Percent(final.Stats.Top5Accuracy)}, loss {final.Stats.Loss:F4}, macro F1 {final.Confusion.MacroF1:F4}; backend {backend.Name}."));
        if (history.Best is { } best)
            page.Paragraph($"Best epoch by validation: {best.Epoch + 1} (validation accuracy {Format.Percent(best.Validation!.Value.Accuracy)}).");

        page.Heading("Learning curves");
        page.Raw(Svg.LineChart("loss-curve", "Loss per epoch", "epoch", "cross-entropy", Curves(history, s => s.Loss)));
        page.Raw(Svg.LineChart("accuracy-curve", "Accuracy per epoch", "epoch", "top-1 accuracy", Curves(history, s => s.Accuracy)));
        page.Raw(Svg.LineChart("lr-curve", "Learning rate at the end of each epoch", "epoch", "learning rate",
            [new Svg.Series("learning rate", Svg.Palette[0], history.Epochs.Select(e => (e.Epoch + 1.0, (double)e.LearningRate)).ToList())]));

        page.Heading("Confusion matrix (test set)");
        page.Raw(Svg.HeatMap("confusion-matrix", "Rows: actual class; columns: predicted class; shade: share of the row",
            final.Confusion.Counts, names, names, "actual", "predicted"));
        var matrix = final.Confusion;
        page.Raw(Html.Table("per-class", ["class", "name", "precision", "recall", "F1", "support"],
            Enumerable.Range(0, matrix.Classes).Select(c => (IReadOnlyList<string>)
            [
                c.ToString(CultureInfo.InvariantCulture), names[c], Format.Percent(matrix.Precision(c)), Format.Percent(matrix.Recall(c)),
                matrix.F1(c).ToString("F4", CultureInfo.InvariantCulture), matrix.Support(c).ToString(CultureInfo.InvariantCulture),
            ])));

        page.Heading("First convolution's filters");
        if (model.Modules().OfType<Conv2d>().FirstOrDefault() is { } conv)
        {
            page.Paragraph($"{conv.Describe()}: {conv.OutChannels} filters of {conv.Weight.Shape}; each scaled from its own minimum (black) to maximum (white).", "note");
            page.Raw(Html.Grid("filters", FilterImages(conv).Select((image, k) => new Html.Tile(image, $"#{k}")), scale: Math.Max(1, 48 / conv.KernelSize.Height)));
        }
        else page.Paragraph("The model has no Conv2d layer.", "note");

        page.Heading("Test images: mistakes first");
        int mistakes = final.Labels.Where((label, i) => final.Predicted[i] != label).Count();
        page.Paragraph($"{mistakes:N0} of {final.Labels.Length:N0} test images are misclassified; the first {Math.Min(GridImages, final.Labels.Length)} shown are the most confident mistakes, then the least confident correct answers.", "note");
        var shown = final.MistakesFirst().Take(GridImages).Select(i => new Html.Tile(
            [TestImage(data.Test, i)],
            string.Create(CultureInfo.InvariantCulture, $"predicted {names[final.Predicted[i]]} ({Format.Percent(final.Confidence[i], 0)}), true {names[final.Labels[i]]}"),
            final.Predicted[i] != final.Labels[i]));
        page.Raw(Html.Grid("test-images", shown, scale: data.Test.ItemShape.Width <= 32 ? 3 : 1));

        var path = Path.Combine(directory, FileName);
        page.Save(path);
        return path;
    }

    /// <summary>Train, validation and test curves of one statistic (a series only for what was measured).</summary>
    private static List<Svg.Series> Curves(TrainingHistory history, Func<EpochStats, double> value)
    {
        var series = new List<Svg.Series> { new("train", Svg.Palette[0], history.Epochs.Select(e => (e.Epoch + 1.0, value(e.Train))).ToList()) };
        if (history.Epochs.Any(e => e.Validation is not null))
            series.Add(new("validation", Svg.Palette[1], history.Epochs.Where(e => e.Validation is not null).Select(e => (e.Epoch + 1.0, value(e.Validation!.Value))).ToList()));
        if (history.Epochs.Any(e => e.Test is not null))
            series.Add(new("test", Svg.Palette[2], history.Epochs.Where(e => e.Test is not null).Select(e => (e.Epoch + 1.0, value(e.Test!.Value))).ToList()));
        return series;
    }

    /// <summary>
    /// Each filter (K, C, R, S) as an R x S picture: RGB when C = 3, else its first input channel (grey); scaled
    /// from the filter's own minimum to maximum.
    /// </summary>
    public static IEnumerable<Image> FilterImages(Conv2d conv)
    {
        var weights = conv.Weight.ToArray();
        var shape = conv.Weight.Shape;
        int k = shape[0], c = shape[1], r = shape[2], s = shape[3], size = c * r * s;
        int shownChannels = c == 3 ? 3 : 1;
        for (int filter = 0; filter < k; filter++)
        {
            var values = weights.AsSpan(filter * size, shownChannels * r * s);
            float low = float.PositiveInfinity, high = float.NegativeInfinity;
            foreach (float v in values)
            {
                low = Math.Min(low, v);
                high = Math.Max(high, v);
            }
            yield return Image.FromChw(values, shownChannels, r, s, low, high > low ? high : low + 1e-6f);
        }
    }

    /// <summary>Test image <paramref name="index"/> with its normalization undone (pixels back in [0, 1]).</summary>
    public static Image TestImage(Dataset data, int index)
    {
        var geometry = ItemGeometry.Of(data.ItemShape);
        var pixels = data.Images.AsSpan(index * geometry.Size, geometry.Size).ToArray();
        if (data.Normalization is { } n)
            for (int ch = 0; ch < geometry.Channels; ch++)
                foreach (ref float v in pixels.AsSpan(ch * geometry.Plane, geometry.Plane)) v = v * n.Std[ch] + n.Mean[ch];
        return Image.FromChw(pixels, geometry.Channels, geometry.Height, geometry.Width);
    }
}
