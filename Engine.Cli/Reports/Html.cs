using System.Globalization;
using System.Net;
using System.Text;
using Engine.Imaging;

namespace Engine.Cli.Reports;

/// <summary>
/// Building blocks of self-contained HTML reports: escaping, images as data: URIs of PNGs from our own encoder,
/// captioned image grids, and a page with inline CSS. Nothing refers to the network or to other files, so a
/// report is one file that opens anywhere. Charts are in <see cref="Svg"/>.
/// </summary>
public static class Html
{
    public static string Escape(string text) => WebUtility.HtmlEncode(text);

    /// <summary>"data:image/png;base64,..." of the image encoded by <see cref="Png.Encode"/>.</summary>
    public static string PngDataUri(Image image) => "data:image/png;base64," + Convert.ToBase64String(Png.Encode(image));

    /// <summary>An &lt;img&gt; of the image drawn <paramref name="scale"/> times its size with square pixels.</summary>
    public static string Img(Image image, string alt, int scale = 1, string? cssClass = null) => string.Create(CultureInfo.InvariantCulture,
        $"<img src=\"{PngDataUri(image)}\" width=\"{image.Width * scale}\" height=\"{image.Height * scale}\" alt=\"{Escape(alt)}\"{(cssClass is null ? "" : $" class=\"{cssClass}\"")}>");

    /// <summary>One cell of an image grid: pictures side by side (an image and its mask, say) over a caption.</summary>
    public sealed record Tile(IReadOnlyList<Image> Images, string Caption, bool Highlight = false, string? Alt = null)
    {
        public Tile(Image image, string caption, bool highlight = false) : this([image], caption, highlight) { }
    }

    /// <summary>A wrapping grid of captioned tiles; highlighted tiles (mistakes, say) get the class "bad".</summary>
    public static string Grid(string id, IEnumerable<Tile> tiles, int scale = 2)
    {
        var html = new StringBuilder($"<div class=\"grid\" id=\"{Escape(id)}\">");
        foreach (var tile in tiles)
        {
            html.Append(tile.Highlight ? "<figure class=\"tile bad\">" : "<figure class=\"tile\">");
            foreach (var image in tile.Images) html.Append(Img(image, tile.Alt ?? tile.Caption, scale));
            html.Append("<figcaption>").Append(Escape(tile.Caption)).Append("</figcaption></figure>");
        }
        return html.Append("</div>").ToString();
    }

    /// <summary>A table with a header row; cells are escaped text.</summary>
    public static string Table(string id, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var html = new StringBuilder($"<table id=\"{Escape(id)}\"><thead><tr>");
        foreach (var h in header) html.Append("<th>").Append(Escape(h)).Append("</th>");
        html.Append("</tr></thead><tbody>");
        foreach (var row in rows)
        {
            html.Append("<tr>");
            foreach (var cell in row) html.Append("<td>").Append(Escape(cell)).Append("</td>");
            html.Append("</tr>");
        }
        return html.Append("</tbody></table>").ToString();
    }
}

/// <summary>An HTML page built section by section, written as one self-contained file.</summary>
public sealed class HtmlPage(string title)
{
    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:75em}" +
        "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}" +
        "table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #eee;text-align:right}" +
        ".grid{display:flex;flex-wrap:wrap;gap:.5em}.tile{margin:0;padding:.3em;border:2px solid #cde;text-align:center;font-size:.75em}" +
        ".tile.bad{border-color:#d33}.tile img{image-rendering:pixelated;margin:1px}figcaption{max-width:12em}" +
        "svg text{font-size:11px;font-family:system-ui,sans-serif}.note{color:#666}";

    private readonly StringBuilder _body = new();

    public string Title { get; } = title;

    public HtmlPage Heading(string text)
    {
        _body.Append("<h2>").Append(Html.Escape(text)).Append("</h2>\n");
        return this;
    }

    public HtmlPage Paragraph(string text, string? cssClass = null)
    {
        _body.Append(cssClass is null ? "<p>" : $"<p class=\"{cssClass}\">").Append(Html.Escape(text)).Append("</p>\n");
        return this;
    }

    /// <summary>Markup made by <see cref="Html"/> or <see cref="Svg"/> (already escaped).</summary>
    public HtmlPage Raw(string markup)
    {
        _body.Append(markup).Append('\n');
        return this;
    }

    public string Render() =>
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + Html.Escape(Title) + "</title><style>" + Style +
        "</style></head><body>\n<h1>" + Html.Escape(Title) + "</h1>\n" + _body + "</body></html>\n";

    /// <summary>Writes the page through a temporary file renamed into place.</summary>
    public void Save(string path)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, Render(), new UTF8Encoding(false));
        File.Move(temporary, path, overwrite: true);
    }
}
