using System.Globalization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>Plain-text tables of classification results (fixed-width columns, no terminal codes).</summary>
public static class TextTables
{
    /// <summary>"class  name  precision  recall  F1  support", one row per class.</summary>
    public static IEnumerable<string> PerClass(ConfusionMatrix matrix, Func<int, string> name)
    {
        int width = Math.Max(Enumerable.Range(0, matrix.Classes).Max(c => name(c).Length), "name".Length);
        yield return string.Create(CultureInfo.InvariantCulture, $"{"class",5}  {"name".PadRight(width)}  {"precision",9}  {"recall",7}  {"F1",7}  {"support",7}");
        for (int c = 0; c < matrix.Classes; c++)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{c,5}  {name(c).PadRight(width)}  {Format.Percent(matrix.Precision(c)),9}  {Format.Percent(matrix.Recall(c)),7}  {matrix.F1(c),7:F4}  {matrix.Support(c),7}");
    }

    /// <summary>The confusion matrix, rows actual and columns predicted, headed by class indices (up to 20 classes; larger ones are summarised).</summary>
    public static IEnumerable<string> Confusion(ConfusionMatrix matrix)
    {
        const int MaxClasses = 20;
        if (matrix.Classes > MaxClasses)
        {
            yield return $"confusion matrix: {matrix.Classes} x {matrix.Classes} (too large to print; see --json or --report)";
            yield break;
        }
        int width = Math.Max(matrix.Total.ToString(CultureInfo.InvariantCulture).Length, 3);
        yield return "confusion matrix (rows: actual class, columns: predicted class):";
        yield return "      " + string.Concat(Enumerable.Range(0, matrix.Classes).Select(c => c.ToString(CultureInfo.InvariantCulture).PadLeft(width + 1)));
        for (int a = 0; a < matrix.Classes; a++)
            yield return a.ToString(CultureInfo.InvariantCulture).PadLeft(5) + " " +
                string.Concat(Enumerable.Range(0, matrix.Classes).Select(p => matrix.Counts[a, p].ToString(CultureInfo.InvariantCulture).PadLeft(width + 1)));
    }
}
