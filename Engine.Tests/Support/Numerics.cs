namespace Engine.Tests.Support;

/// <summary>Comparisons with stated tolerances, random data, and central finite differences.</summary>
public static class Numerics
{
    /// <summary>
    /// Asserts |actual - expected| &lt;= atol + rtol * |expected| for every element, reporting the worst one.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol, double atol, string what)
    {
        Expect.That(actual.Length == expected.Length, $"{what}: expected {expected.Length} elements, got {actual.Length}");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            double allowed = atol + rtol * Math.Abs(expected[i]);
            if (double.IsNaN(actual[i]) || error > allowed)
            {
                double excess = double.IsNaN(error) ? double.PositiveInfinity : error - allowed;
                if (worst < 0 || excess > worstExcess) (worst, worstExcess) = (i, excess);
            }
        }
        if (worst >= 0)
            throw new PropertyFailure($"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} " +
                        $"(tolerance {atol:g3} + {rtol:g3}*|expected|; {Count(actual, expected, rtol, atol)} of {actual.Length} elements outside)");
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double rtol, double atol, string what) =>
        AssertClose(actual, ToDouble(expected), rtol, atol, what);

    private static int Count(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol, double atol)
    {
        int n = 0;
        for (int i = 0; i < actual.Length; i++)
            if (!(Math.Abs(actual[i] - expected[i]) <= atol + rtol * Math.Abs(expected[i]))) n++;
        return n;
    }

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var d = new double[values.Length];
        for (int i = 0; i < d.Length; i++) d[i] = values[i];
        return d;
    }

    /// <summary>Uniform values in [low, high), rounded to float32 so the backend and the reference see the same inputs.</summary>
    public static double[] Uniform(Random random, int count, double low = -1, double high = 1)
    {
        var v = new double[count];
        for (int i = 0; i < count; i++) v[i] = (float)(low + (high - low) * random.NextDouble());
        return v;
    }

    /// <summary>
    /// Distinct values spaced <paramref name="gap"/> apart in random order (no ties, so max pooling and ReLU-like
    /// kinks stay more than a finite-difference step away from every decision).
    /// </summary>
    public static double[] DistinctShuffled(Random random, int count, double gap = 0.01)
    {
        var v = new double[count];
        for (int i = 0; i < count; i++) v[i] = (float)((i - count / 2) * gap + gap / 2);
        random.Shuffle(v);
        return v;
    }

    public static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>
    /// Central differences of the scalar function f at x: (f(x + h e_i) - f(x - h e_i)) / 2h, for the indices
    /// given (all when null). f is evaluated in double; x is restored after each probe.
    /// </summary>
    public static double[] FiniteDifferences(Func<double[], double> f, double[] x, double h, IReadOnlyList<int>? indices = null)
    {
        var grad = new double[x.Length];
        foreach (int i in indices ?? Enumerable.Range(0, x.Length).ToList())
        {
            double saved = x[i];
            x[i] = saved + h;
            double plus = f(x);
            x[i] = saved - h;
            double minus = f(x);
            x[i] = saved;
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    /// <summary>Up to <paramref name="count"/> distinct indices below <paramref name="length"/> (all when it is small).</summary>
    public static int[] SampleIndices(Random random, int length, int count)
    {
        if (length <= count) return Enumerable.Range(0, length).ToArray();
        var all = Enumerable.Range(0, length).ToArray();
        random.Shuffle(all);
        return all[..count];
    }

    /// <summary>Asserts the autograd gradient matches finite differences at the probed indices.</summary>
    public static void AssertGradient(float[] autograd, double[] finiteDifferences, IReadOnlyList<int> indices, double rtol, double atol, string what)
    {
        var actual = indices.Select(i => autograd[i]).ToArray();
        var expected = indices.Select(i => finiteDifferences[i]).ToArray();
        AssertClose(actual, expected, rtol, atol, $"{what} (autograd vs central differences at {indices.Count} probed elements)");
    }
}
