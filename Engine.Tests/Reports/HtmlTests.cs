using System.Text.RegularExpressions;
using Engine.Cli.Reports;
using Engine.Imaging;
using NUnit.Framework;

namespace Engine.Tests.Reports;

/// <summary>The report building blocks: data URIs that decode back, escaped text, chart and heat-map structure.</summary>
public sealed class HtmlTests
{
    [Test]
    public void ImagesAreInlinePngsThatDecodeToTheSamePixels()
    {
        var image = new Image(3, 2, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
        var tag = Html.Img(image, "a <b>", scale: 4);
        var match = Regex.Match(tag, "src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\" width=\"12\" height=\"8\" alt=\"a &lt;b&gt;\"");
        Assert.That(match.Success, tag);
        var decoded = Png.Decode(Convert.FromBase64String(match.Groups[1].Value), "inline");
        Assert.That((decoded.Width, decoded.Height, decoded.Channels, decoded.Pixels), Is.EqualTo((3, 2, 3, image.Pixels)));
    }

    [Test]
    public void TicksAreRoundStepsCoveringTheRange()
    {
        Assert.That(Svg.Ticks(0, 1), Is.EqualTo(new[] { 0, 0.2, 0.4, 0.6, 0.8, 1.0 }).Within(1e-12));
        Assert.That(Svg.Ticks(0.31, 2.4), Is.EqualTo(new[] { 0.5, 1.0, 1.5, 2.0 }).Within(1e-12));
        Assert.That(Svg.Ticks(-0.01, 0.03).Select(t => double.IsNegative(t) && t == 0), Has.None.True, "no negative zero");
    }

    [Test]
    public void LineChartHasOnePolylinePerSeriesWithEveryPoint()
    {
        var chart = Svg.LineChart("c", "Loss & more", "epoch", "loss",
        [
            new("train", "#000", [(1, 2.0), (2, 1.0), (3, 0.5)]),
            new("val <1>", "#f00", [(1, 2.5), (2, double.NaN), (3, 0.7)]),
        ]);
        var lines = Regex.Matches(chart, "<polyline class=\"series\" data-name=\"([^\"]*)\"[^>]*points=\"([^\"]*)\"");
        Assert.That(lines.Select(m => m.Groups[1].Value), Is.EqualTo(new[] { "train", "val &lt;1&gt;" }));
        Assert.That(lines.Select(m => m.Groups[2].Value.Split(' ').Length), Is.EqualTo(new[] { 3, 2 }), "NaN points are skipped");
        Assert.That(chart, Does.Contain("Loss &amp; more"));
        // The lowest loss is drawn lowest: larger SVG y.
        var train = lines[0].Groups[2].Value.Split(' ').Select(p => double.Parse(p.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(train, Is.Ordered.Ascending);
    }

    [Test]
    public void HeatMapHasACellPerEntryShadedByRowShare()
    {
        long[,] counts = { { 8, 2 }, { 0, 5 } };
        var map = Svg.HeatMap("m", "t", counts, ["a", "b"], ["a", "b"], "actual", "predicted");
        var cells = Regex.Matches(map, "class=\"cell\" data-row=\"(\\d)\" data-column=\"(\\d)\" data-value=\"(\\d+)\"[^>]*fill=\"([^\"]+)\"");
        Assert.That(cells.Select(c => c.Groups[3].Value), Is.EqualTo(new[] { "8", "2", "0", "5" }));
        // Row 0: 8/10 on the diagonal -> rgb(51,51,255); 2/10 off it -> rgb(255,204,204). Row 1: 0 -> white, 5/5 -> blue.
        Assert.That(cells.Select(c => c.Groups[4].Value), Is.EqualTo(new[] { "rgb(51,51,255)", "rgb(255,204,204)", "rgb(255,255,255)", "rgb(0,0,255)" }));
    }
}
