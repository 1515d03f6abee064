using System.Globalization;
using System.Text;

namespace Engine.Cli.Reports;

/// <summary>Inline SVG charts for reports: line charts of per-epoch values and heat maps of matrices.</summary>
public static class Svg
{
    /// <summary>A named line: points (x, y); NaN values are skipped.</summary>
    public sealed record Series(string Name, string Colour, IReadOnlyList<(double X, double Y)> Points);

    public static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

    private const int Width = 480, Height = 300, Left = 56, Right = 120, Top = 24, Bottom = 40;

    private static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>
    /// A line chart with axes, about five ticks per axis, a legend on the right, and a &lt;polyline&gt; per series
    /// (class "series", data-name the series name) with a dot at each point.
    /// </summary>
    public static string LineChart(string id, string title, string xLabel, string yLabel, IReadOnlyList<Series> series)
    {
        var points = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        double x0 = points.Count > 0 ? points.Min(p => p.X) : 0, x1 = points.Count > 0 ? points.Max(p => p.X) : 1;
        double y0 = points.Count > 0 ? points.Min(p => p.Y) : 0, y1 = points.Count > 0 ? points.Max(p => p.Y) : 1;
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) (y0, y1) = (y0 - 0.5, y1 + 0.5);
        double pad = (y1 - y0) * 0.05;
        (y0, y1) = (y0 - pad, y1 + pad);
        int plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double Px(double x) => Left + (x - x0) / (x1 - x0) * plotW;
        double Py(double y) => Top + (1 - (y - y0) / (y1 - y0)) * plotH;

        var svg = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"<svg id=\"{Html.Escape(id)}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{Html.Escape(title)}\">"));
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"14\" font-weight=\"bold\">{Html.Escape(title)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>");
        foreach (double t in Ticks(y0, y1))
            svg.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{Left}\" x2=\"{Left + plotW}\" y1=\"{F(Py(t))}\" y2=\"{F(Py(t))}\" stroke=\"#eee\"/><text x=\"{Left - 4}\" y=\"{F(Py(t) + 4)}\" text-anchor=\"end\">{t.ToString("G4", CultureInfo.InvariantCulture)}</text>");
        foreach (double t in Ticks(x0, x1).Where(t => Math.Abs(t - Math.Round(t)) < 1e-9 || x1 - x0 < 5))
            svg.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{F(Px(t))}\" y=\"{Top + plotH + 14}\" text-anchor=\"middle\">{t.ToString("G4", CultureInfo.InvariantCulture)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW / 2}\" y=\"{Height - 6}\" text-anchor=\"middle\">{Html.Escape(xLabel)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(12 {Top + plotH / 2}) rotate(-90)\" text-anchor=\"middle\">{Html.Escape(yLabel)}</text>");
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var valid = s.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
            svg.Append(CultureInfo.InvariantCulture, $"<polyline class=\"series\" data-name=\"{Html.Escape(s.Name)}\" fill=\"none\" stroke=\"{s.Colour}\" stroke-width=\"2\" points=\"");
            svg.AppendJoin(' ', valid.Select(p => F(Px(p.X)) + "," + F(Py(p.Y))));
            svg.Append("\"/>");
            foreach (var p in valid) svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(Px(p.X))}\" cy=\"{F(Py(p.Y))}\" r=\"2.5\" fill=\"{s.Colour}\"/>");
            int ly = Top + 10 + 16 * i;
            svg.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{Left + plotW + 8}\" x2=\"{Left + plotW + 24}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{s.Colour}\" stroke-width=\"2\"/><text x=\"{Left + plotW + 28}\" y=\"{ly + 4}\">{Html.Escape(s.Name)}</text>");
        }
        return svg.Append("</svg>").ToString();
    }

    /// <summary>Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten, about five of them.</summary>
    public static IEnumerable<double> Ticks(double low, double high)
    {
        double raw = (high - low) / 5, magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1.0, 2.0, 5.0, 10.0 }.Select(m => m * magnitude).First(s => s >= raw);
        for (double t = Math.Ceiling(low / step) * step; t <= high + step * 1e-9; t += step) yield return Math.Round(t / step) * step + 0.0; // + 0.0 turns -0 into 0
    }

    /// <summary>
    /// A heat map of a rows x columns matrix: cell (r, c) (class "cell", data-row, data-column, data-value) is shaded
    /// by its value over the row's sum (the fraction of an actual class given each prediction), labelled with the
    /// value; row labels on the left, column labels on top.
    /// </summary>
    public static string HeatMap(string id, string title, long[,] values, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels, string rowAxis, string columnAxis)
    {
        int rows = values.GetLength(0), columns = values.GetLength(1);
        int cell = Math.Clamp(480 / Math.Max(columns, 1), 6, 40), labelW = 110, labelH = 90;
        bool numbers = cell >= 24;
        int width = labelW + columns * cell + 70, height = labelH + rows * cell + 30; // room on the right for the last rotated column label
        var svg = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"<svg id=\"{Html.Escape(id)}\" class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{Html.Escape(title)}\">"));
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"14\" font-weight=\"bold\">{Html.Escape(title)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelW + columns * cell / 2}\" y=\"28\" text-anchor=\"middle\">{Html.Escape(columnAxis)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(10 {labelH + rows * cell / 2}) rotate(-90)\" text-anchor=\"middle\">{Html.Escape(rowAxis)}</text>");
        for (int c = 0; c < columns && numbers; c++)
            svg.Append(CultureInfo.InvariantCulture,
                $"<text transform=\"translate({labelW + c * cell + cell / 2 + 4} {labelH - 4}) rotate(-60)\">{Html.Escape(columnLabels[c])}</text>");
        for (int r = 0; r < rows; r++)
        {
            long sum = 0;
            for (int c = 0; c < columns; c++) sum += values[r, c];
            if (numbers)
                svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelW - 4}\" y=\"{labelH + r * cell + cell / 2 + 4}\" text-anchor=\"end\">{Html.Escape(rowLabels[r])}</text>");
            for (int c = 0; c < columns; c++)
            {
                double share = sum == 0 ? 0 : (double)values[r, c] / sum;
                int shade = (int)Math.Round(255 * (1 - share));
                string fill = r == c ? $"rgb({shade},{shade},255)" : $"rgb(255,{shade},{shade})";
                int x = labelW + c * cell, y = labelH + r * cell;
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect class=\"cell\" data-row=\"{r}\" data-column=\"{c}\" data-value=\"{values[r, c]}\" x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#fff\"><title>{Html.Escape(rowLabels[r])} as {Html.Escape(columnLabels[c])}: {values[r, c]}</title></rect>");
                if (numbers && values[r, c] > 0)
                    svg.Append(CultureInfo.InvariantCulture,
                        $"<text x=\"{x + cell / 2}\" y=\"{y + cell / 2 + 4}\" text-anchor=\"middle\" fill=\"{(share > 0.5 ? "#fff" : "#222")}\">{values[r, c]}</text>");
            }
        }
        return svg.Append("</svg>").ToString();
    }
}
