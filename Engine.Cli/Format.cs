using System.Globalization;

namespace Engine.Cli;

/// <summary>Number formats of the human-readable output (culture-independent).</summary>
public static class Format
{
    /// <summary>0.9785 as "97.85%".</summary>
    public static string Percent(double fraction, int decimals = 2) =>
        (fraction * 100).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + "%";
}
