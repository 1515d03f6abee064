using System.Globalization;
using System.Text;
using Engine.Data;
using Engine.Cli.Reports;
using Engine.Imaging;
using Engine.Nn;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// The page "train --task segmentation --report DIR" writes: DIR/index.html, self-contained (inline SVG curves and
/// PNG data: URIs, no scripts, no network): the settings, loss and IoU per epoch, the last epoch's threshold
/// sweep, and test images beside their true and predicted masks, worst IoU first.
/// </summary>
public static class SegmentationReport
{
    public const string PageName = "index.html";
    private const int ExampleCount = 12, ExamplePool = 48, Pixels = 128;

    /// <summary>One test image: input, true mask, predicted probability, predicted mask at the threshold, and its IoU.</summary>
    public sealed record Example(int Index, Image Input, Image Truth, Image Probability, Image Predicted, double IoU);

    public sealed record Run(string Model, string Data, string Settings, IReadOnlyList<SegmentationEpoch> History, IReadOnlyList<Example> Examples);

    /// <summary>
    /// The first <see cref="ExamplePool"/> test samples predicted at <paramref name="threshold"/>; the
    /// <see cref="ExampleCount"/> with the lowest IoU, worst first.
    /// </summary>
    public static IReadOnlyList<Example> Examples(Module model, ISegmentationSource test, IBackend backend, float threshold)
    {
        int count = Math.Min(ExamplePool, test.Count), channels = test.ItemShape[0], h = test.ItemShape.Height, w = test.ItemShape.Width, plane = h * w;
        var set = SegmentationSet.From(new Prefix(test, count));
        float[] probabilities;
        using (Scope.Begin())
            probabilities = SegmentationTrainer.Predict(model, Tensor.FromArray(backend, set.Images, new Shape(count, channels, h, w)));
        var examples = new List<Example>();
        for (int i = 0; i < count; i++)
        {
            var image = set.Images.AsSpan(i * channels * plane, channels * plane);
            var truth = set.Masks.AsSpan(i * plane, plane);
            var probability = probabilities.AsSpan(i * plane, plane);
            var predicted = probability.ToArray().Select(p => p >= threshold ? 1f : 0f).ToArray();
            float low = image.ToArray().Min(), high = Math.Max(image.ToArray().Max(), low + 1e-6f);
            examples.Add(new Example(i, Image.FromChw(image, channels, h, w, low, high), Image.FromChw(truth, 1, h, w), Image.FromChw(probability, 1, h, w),
                Image.FromChw(predicted, 1, h, w), MaskCounts.Count(probability, truth, threshold).IoU));
        }
        return examples.OrderBy(e => e.IoU).ThenBy(e => e.Index).Take(ExampleCount).ToList();
    }

    /// <summary>Writes DIR/index.html (creating DIR), through a temporary file.</summary>
    public static void Write(string directory, Run run)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, PageName);
        File.WriteAllText(path + ".tmp", Page(run), Encoding.UTF8);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static string Page(Run run)
    {
        var last = run.History[^1];
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Segmentation: ").Append(Encode(run.Model)).Append("</title>\n<style>")
            .Append("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}")
            .Append("img{image-rendering:pixelated;width:").Append(Pixels).Append("px;height:").Append(Pixels).Append("px;border:1px solid #999}")
            .Append("figure{display:inline-block;margin:4px}figcaption{font-size:12px;text-align:center}.example{margin:10px 0}</style></head><body>\n");
        html.Append("<h1>Segmentation: ").Append(Encode(run.Model)).Append(" on ").Append(Encode(run.Data)).Append("</h1>\n<p>").Append(Encode(run.Settings)).Append("</p>\n");
        var (bestThreshold, best) = last.Sweep.BestIoU();
        html.Append(Invariant($"<p id=\"summary\">Final test IoU {last.Test.Counts.IoU:F4} at threshold 0.5 (best {best.IoU:F4} at {bestThreshold:0.##}), F1 {last.Test.Counts.F1:F4}, pixel accuracy {last.Test.Counts.PixelAccuracy:P2}, after {last.ElapsedSeconds:F1} s.</p>\n"));
        html.Append("<h2>Curves</h2>\n");
        html.Append(Chart("loss", "Loss per epoch", "loss", ("train loss", run.History.Select(e => e.Train.Loss)), ("test loss", run.History.Select(e => e.Test.Loss))));
        html.Append(Chart("iou", "IoU per epoch (threshold 0.5)", "IoU", ("train IoU", run.History.Select(e => e.Train.Counts.IoU)), ("test IoU", run.History.Select(e => e.Test.Counts.IoU))));
        html.Append("<h2>Epochs</h2>\n<table id=\"epochs\"><tr><th>epoch</th><th>train loss</th><th>train IoU</th><th>test loss</th><th>pixel accuracy</th><th>IoU</th><th>F1</th><th>seconds</th></tr>\n");
        foreach (var e in run.History)
            html.Append(Invariant($"<tr><td>{e.Epoch}</td><td>{e.Train.Loss:F4}</td><td>{e.Train.Counts.IoU:F4}</td><td>{e.Test.Loss:F4}</td><td>{e.Test.Counts.PixelAccuracy:P2}</td><td>{e.Test.Counts.IoU:F4}</td><td>{e.Test.Counts.F1:F4}</td><td>{e.ElapsedSeconds:F1}</td></tr>\n"));
        html.Append("</table>\n<h2>Threshold sweep (last epoch, test set)</h2>\n<table id=\"sweep\"><tr><th>threshold</th><th>pixel accuracy</th><th>IoU</th><th>F1</th></tr>\n");
        for (int t = 0; t < last.Sweep.Thresholds.Length; t++)
        {
            var c = last.Sweep.Counts[t];
            html.Append(Invariant($"<tr><td>{last.Sweep.Thresholds[t]:0.##}</td><td>{c.PixelAccuracy:P2}</td><td>{c.IoU:F4}</td><td>{c.F1:F4}</td></tr>\n"));
        }
        html.Append(Invariant($"</table>\n<h2>Test images: predicted beside true masks (worst IoU first, threshold {bestThreshold:0.##})</h2>\n<div id=\"examples\">\n"));
        foreach (var e in run.Examples)
        {
            html.Append(Invariant($"<div class=\"example\"><b>test image {e.Index}: IoU {e.IoU:F3}</b><br>"));
            foreach (var (caption, image) in new[] { ("image", e.Input), ("true mask", e.Truth), ("probability", e.Probability), ("predicted mask", e.Predicted) })
                html.Append("<figure><img alt=\"").Append(caption).Append("\" src=\"").Append(Html.PngDataUri(image)).Append("\"><figcaption>").Append(caption).Append("</figcaption></figure>");
            html.Append("</div>\n");
        }
        return html.Append("</div>\n</body></html>\n").ToString();
    }

    /// <summary>A line chart over epochs 1..n of the given per-epoch values.</summary>
    private static string Chart(string id, string title, string yLabel, params (string Name, IEnumerable<double> Values)[] series) =>
        Svg.LineChart(id, title, "epoch", yLabel,
            series.Select((s, i) => new Svg.Series(s.Name, Svg.Palette[i % Svg.Palette.Length], s.Values.Select((v, e) => ((double)(e + 1), v)).ToList())).ToList());

    private static string Encode(string text) => Html.Escape(text);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The first <c>count</c> samples of a source.</summary>
    private sealed class Prefix(ISegmentationSource source, int count) : ISegmentationSource
    {
        public int Count => count;
        public Shape ItemShape => source.ItemShape;
        public void Fill(int index, Span<float> image, Span<float> mask) => source.Fill(index, image, mask);
    }
}
