using System.Diagnostics;
using System.Text.RegularExpressions;
using Engine.Imaging;
using Engine.Tests.Cli;
using NUnit.Framework;

namespace Engine.Tests.Reports;

/// <summary>
/// "train --report DIR" writes a page that headless Chromium renders with the curves, the confusion matrix, the
/// first layer's filters and the test images in its DOM.
/// </summary>
[TestFixture]
public sealed class TrainingReportTests
{
    private static readonly string[] ChromiumNames = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-report-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    /// <summary>The DOM after Chromium loaded and rendered the page (scripts/install-chromium.sh installs it).</summary>
    private static string DumpDom(string page)
    {
        var chromium = ChromiumNames.FirstOrDefault(File.Exists);
        if (chromium is null) Assert.Ignore($"chromium is not installed (looked for {string.Join(", ", ChromiumNames)}); scripts/install-chromium.sh installs it");
        var start = new ProcessStartInfo(chromium!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", new Uri(page).AbsoluteUri }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var dom = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish within 120 s");
        }
        Assert.That(process.ExitCode, Is.Zero, $"chromium failed: {stderr.Result}");
        return dom;
    }

    private static int Count(string text, string pattern) => Regex.Matches(text, pattern).Count;

    /// <summary>The element with id <paramref name="id"/> up to its closing tag (none of these nest their own kind).</summary>
    private static string Element(string dom, string tag, string id)
    {
        var match = Regex.Match(dom, $"<{tag}[^>]*id=\"{id}\"[\\s\\S]*?</{tag}>");
        Assert.That(match.Success, $"no <{tag} id=\"{id}\"> in the rendered DOM");
        return match.Value;
    }

    [Test]
    public void ReportRendersCurvesMatrixFiltersAndTestImagesInChromium()
    {
        var report = Path.Combine(_directory.FullName, "report");
        var train = TrainLoopCliTests.Run("train", "--epochs", "2", "--limit", "300", "--val-split", "0.2", "--report", report,
            "--out", Path.Combine(_directory.FullName, "r.safetensors"));
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        var page = Path.Combine(report, "index.html");
        Assert.That(train.Lines[^1], Is.EqualTo($"report {page}"));
        var html = File.ReadAllText(page);
        Assert.That(html.Replace("xmlns=\"http://www.w3.org/2000/svg\"", "", StringComparison.Ordinal), Does.Not.Contain("http:").And.Not.Contain("https:"),
            "self-contained: the only URL is the SVG namespace");
        Assert.That(Regex.Matches(html, "(src|href)=\"(?!data:)").Count, Is.Zero, "no reference to another file");

        var dom = DumpDom(page);
        foreach (var id in new[] { "loss-curve", "accuracy-curve" })
        {
            var chart = Element(dom, "svg", id);
            Assert.That(Regex.Matches(chart, "<polyline class=\"series\" data-name=\"(train|validation|test)\"").Count, Is.EqualTo(3), $"{id}: train, validation and test");
            Assert.That(Count(chart, "<circle "), Is.EqualTo(3 * 2), $"{id}: a point per epoch per series");
        }
        var matrix = Element(dom, "svg", "confusion-matrix");
        var cells = Regex.Matches(matrix, "class=\"cell\"[^>]*data-value=\"(\\d+)\"");
        Assert.That(cells, Has.Count.EqualTo(100), "10 x 10 cells");
        Assert.That(cells.Sum(c => int.Parse(c.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)), Is.EqualTo(300), "every test image once");

        var filters = Regex.Matches(Element(dom, "div", "filters"), "<img src=\"data:image/png;base64,([^\"]+)\"");
        Assert.That(filters, Has.Count.EqualTo(6), "LeNet-5's first convolution has 6 filters");
        var filter = Png.Decode(Convert.FromBase64String(filters[0].Groups[1].Value), "filter 0");
        Assert.That((filter.Width, filter.Height, filter.Channels), Is.EqualTo((5, 5, 1)));
        Assert.That(filter.Pixels.Min(), Is.EqualTo(0));
        Assert.That(filter.Pixels.Max(), Is.EqualTo(255), "each filter is stretched from its minimum to its maximum");

        var grid = Element(dom, "div", "test-images");
        Assert.That(Count(grid, "<figure"), Is.EqualTo(64));
        var captions = Regex.Matches(grid, "<figure class=\"tile( bad)?\">.*?<figcaption>predicted (\\d) \\(\\d+%\\), true (\\d)</figcaption>");
        Assert.That(captions, Has.Count.EqualTo(64));
        var wrong = captions.Select(c => c.Groups[2].Value != c.Groups[3].Value).ToList();
        Assert.That(captions.All(c => (c.Groups[1].Value == " bad") == (c.Groups[2].Value != c.Groups[3].Value)), "mistakes are marked");
        Assert.That(wrong.SkipWhile(w => w).Any(w => w), Is.False, "mistakes first");
    }
}
