using Engine.Cpu;

namespace Engine.Tests.Perf;

/// <summary>Naive double-precision references (the oracles of the fast kernels) and buffer helpers.</summary>
internal static class PerfReference
{
    /// <summary>C (M x N) = alpha * op(A) * op(B) + beta * C in double; also the sum of |terms| per element (for the tolerance).</summary>
    public static (double[] C, double[] Magnitude) Gemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, ReadOnlySpan<float> c)
    {
        var result = new double[m * n];
        var magnitude = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, abs = 0;
                for (int p = 0; p < k; p++)
                {
                    double term = (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                    sum += term;
                    abs += Math.Abs(term);
                }
                double old = beta == 0f ? 0 : (double)beta * c[i * n + j];
                result[i * n + j] = alpha * sum + old;
                magnitude[i * n + j] = Math.Abs(alpha) * abs + Math.Abs(old);
            }
        return (result, magnitude);
    }

    /// <summary>y[n,k,p,q] = bias[k] + sum over (c in group, r, s) of w[k,c,r,s] * x[n, g*Cg + c, p*sh - top + r*dh, q*sw - left + s*dw].</summary>
    public static double[] ConvForward(Conv2dGeometry g, float[] x, float[] w, float[]? bias)
    {
        var y = new double[g.OutputShape.Size];
        ForEachTap(g, (yi, xi, wi) => y[yi] += (double)x[xi] * w[wi]);
        if (bias is not null)
            for (int i = 0; i < y.Length; i++) y[i] += bias[i / (g.OutHeight * g.OutWidth) % g.OutChannels];
        return y;
    }

    /// <summary>dX[xi] = sum over taps reading xi of w * dY.</summary>
    public static double[] ConvBackwardData(Conv2dGeometry g, float[] dY, float[] w)
    {
        var dX = new double[g.InputShape.Size];
        ForEachTap(g, (yi, xi, wi) => dX[xi] += (double)dY[yi] * w[wi]);
        return dX;
    }

    /// <summary>dW[wi] = sum over taps using wi of x * dY.</summary>
    public static double[] ConvBackwardWeight(Conv2dGeometry g, float[] x, float[] dY)
    {
        var dW = new double[g.WeightShape.Size];
        ForEachTap(g, (yi, xi, wi) => dW[wi] += (double)dY[yi] * x[xi]);
        return dW;
    }

    /// <summary>Calls tap(output index, input index, weight index) for every in-bounds product of the convolution.</summary>
    private static void ForEachTap(Conv2dGeometry g, Action<int, int, int> tap)
    {
        int cg = g.InChannelsPerGroup, kg = g.OutChannelsPerGroup, R = g.Kernel.Height, S = g.Kernel.Width;
        for (int n = 0; n < g.Batch; n++)
            for (int k = 0; k < g.OutChannels; k++)
                for (int p = 0; p < g.OutHeight; p++)
                    for (int q = 0; q < g.OutWidth; q++)
                    {
                        int yi = ((n * g.OutChannels + k) * g.OutHeight + p) * g.OutWidth + q;
                        for (int c = 0; c < cg; c++)
                            for (int r = 0; r < R; r++)
                                for (int s = 0; s < S; s++)
                                {
                                    int h = p * g.Stride.Height - g.Padding.Top + r * g.Dilation.Height;
                                    int wc = q * g.Stride.Width - g.Padding.Left + s * g.Dilation.Width;
                                    if ((uint)h >= (uint)g.InHeight || (uint)wc >= (uint)g.InWidth) continue;
                                    int ci = k / kg * cg + c;
                                    tap(yi, ((n * g.InChannels + ci) * g.InHeight + h) * g.InWidth + wc, ((k * cg + c) * R + r) * S + s);
                                }
                    }
    }

    /// <summary>The values' bit patterns (to compare float arrays bit for bit).</summary>
    public static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>Whether g is a valid convolution (<see cref="Conv2dGeometry.Validate"/> does not throw): for generators' filters.</summary>
    public static bool IsValid(Conv2dGeometry g)
    {
        try
        {
            g.Validate("test");
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>y = conv(x, w) + bias on the backend, into an output filled with NaN first (so every output must be written).</summary>
    public static float[] ForwardOn(CpuBackend be, Conv2dGeometry g, float[] x, float[] w, float[]? bias)
    {
        var y = be.Allocate(g.OutputShape.Size);
        be.Fill(y, float.NaN, g.OutputShape.Size);
        be.Conv2d(g, Upload(be, x), Upload(be, w), bias is null ? null : Upload(be, bias), y);
        return Download(be, y, g.OutputShape.Size);
    }

    public static float[] Random(int count, int seed)
    {
        var random = new System.Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    public static DeviceBuffer Upload(CpuBackend backend, float[] values)
    {
        var buffer = backend.Allocate(values.Length);
        backend.Upload(values, buffer);
        return buffer;
    }

    public static float[] Download(CpuBackend backend, DeviceBuffer buffer, int count)
    {
        var values = new float[count];
        backend.Download(buffer, values);
        return values;
    }

    /// <summary>Asserts |actual - expected| &lt;= tolerance * (magnitude + 1e-3) elementwise, naming the first bad index.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, double[] expected, double[]? magnitude, double tolerance, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double scale = (magnitude is null ? Math.Abs(expected[i]) : magnitude[i]) + 1e-3;
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= tolerance * scale))
                NUnit.Framework.Assert.Fail($"{what}: element {i} expected {expected[i]:G9} (tolerance {tolerance * scale:G3}), got {actual[i]:G9}");
        }
    }

    /// <summary>Float error per unit of sum |terms| allowed for the convolution paths against the double reference.</summary>
    public const double ConvTolerance = 2e-6;

    /// <summary>|actual - expected| &lt;= ConvTolerance * (magnitude + 1e-3) elementwise (inside a property: no NUnit assert).</summary>
    public static void ExpectClose(float[] actual, double[] expected, double[] magnitude, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double bound = ConvTolerance * (magnitude[i] + 1e-3);
            Support.Expect.That(Math.Abs(actual[i] - expected[i]) <= bound, $"{what}: element {i} expected {expected[i]:G9} (tolerance {bound:G3}), got {actual[i]:G9}");
        }
    }

    /// <summary>
    /// Expects <paramref name="packed"/> (<paramref name="panel"/>-column micro-panels of <paramref name="kc"/> rows,
    /// panel t at t * kc * panel) to hold rows [k0, k0 + kc), columns [j0, j0 + width) of group
    /// <paramref name="groupIndex"/>'s column matrix L (CRS x NPQ), bit for bit, and 0 in the columns past width:
    /// L[(c*R + r)*S + s, (n*P + p)*Q + q] = x[n, c, p*sh - top + r*dH, q*sw - left + s*dW] (0 in the padding).
    /// </summary>
    public static void ExpectColumnPanels(Conv2dGeometry g, float[] x, int groupIndex, int k0, int kc, int j0, int width, int panel, float[] packed)
    {
        int pq = g.OutHeight * g.OutWidth, cg = g.InChannelsPerGroup, R = g.Kernel.Height, S = g.Kernel.Width;
        for (int t = 0; t < (width + panel - 1) / panel; t++)
            for (int k = 0; k < kc; k++)
                for (int i = 0; i < panel; i++)
                {
                    int column = j0 + t * panel + i, row = k0 + k;
                    float expected = 0f;
                    if (column < j0 + width)
                    {
                        int n = column / pq, p = column % pq / g.OutWidth, q = column % g.OutWidth;
                        int ch = row / (R * S), r = row % (R * S) / S, s = row % S;
                        int h = p * g.Stride.Height - g.Padding.Top + r * g.Dilation.Height, w = q * g.Stride.Width - g.Padding.Left + s * g.Dilation.Width;
                        if (h >= 0 && h < g.InHeight && w >= 0 && w < g.InWidth)
                            expected = x[((n * g.InChannels + groupIndex * cg + ch) * g.InHeight + h) * g.InWidth + w];
                    }
                    float actual = packed[(t * kc + k) * panel + i];
                    Support.Expect.That(BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected),
                        $"{g}, group {groupIndex}, block rows {k0}+{kc}, columns {j0}+{width}, panel {panel}: panel {t} row {k} column {i} expected {expected:R}, got {actual:R}");
                }
    }

    /// <summary>actual equals expected bit for bit (inside a property); <paramref name="what"/> names the run compared.</summary>
    public static void ExpectSameBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Support.Expect.That(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}: element {i} expected {expected[i]:R} bit for bit, got {actual[i]:R}");
    }
}
